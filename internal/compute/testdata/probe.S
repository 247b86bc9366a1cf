# The KVM probe boot sector (accel.go embeds its bytes). It enters 32-bit
# protected mode and returns from an interrupt with IRET, then writes "OK" to
# COM1: on hosts where nested KVM cannot run such code, QEMU stops with "KVM
# internal error" (measured on this project's machines) instead of printing OK.
# Build: as --32 -o probe.o probe.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o probe.bin probe.o
.code16
.globl _start
_start:
  cli
  xorw %ax,%ax
  movw %ax,%ds
  movw %ax,%ss
  movw $0x7c00,%sp
  lgdt gdtdesc
  movl %cr0,%eax
  orl $1,%eax
  movl %eax,%cr0
  ljmp $0x08, $pm
.code32
pm:
  movw $0x10,%ax
  movw %ax,%ds
  movw %ax,%es
  movw %ax,%ss
  movl $0x7c00,%esp
  lidt idtdesc
  int $0x20
  movw $0x3f8,%dx
  movb $'O',%al
  outb %al,%dx
  movb $'K',%al
  outb %al,%dx
1:
  hlt
  jmp 1b
handler:
  iret
.p2align 3
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff
  .quad 0x00cf92000000ffff
gdtdesc:
  .word 23
  .long gdt
idt:
  .fill 0x20, 8, 0
  .word handler
  .word 0x08
  .byte 0
  .byte 0x8e
  .word 0
idtdesc:
  .word (0x21*8)-1
  .long idt
.org 510
.byte 0x55, 0xaa
