#!/usr/bin/env bash
# build.sh: build Hangar's tiny test guest, a raw disk image that boots both
# with BIOS (SeaBIOS -> gptmbr -> syslinux) and with UEFI (OVMF -> unified
# kernel image at \EFI\BOOT\BOOTX64.EFI), from Debian packages only.
#
#   images/testimage/build.sh [--agent PATH | --no-agent] [--specialized] --out FILE
#
# No root-only operations: no loop devices, no mounts, no mknod, no chown.
# Filesystems are built as files (mkfs.ext4 -d, mkfs.vfat + mtools), ownership
# inside ext4 is fixed with debugfs, and everything is dd'd into one file.
# See README.md beside this script for the layout and how to boot it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DEB_DIR="$HERE/out/debs"

# Fixed timestamps/IDs so that two builds of the same inputs are identical
# except for the build time syslinux stamps on its ldlinux.* files in the ESP.
# Override SOURCE_DATE_EPOCH as usual.
EPOCH=${SOURCE_DATE_EPOCH:-1704067200} # 2024-01-01T00:00:00Z
DISK_GUID=8f3a1c52-6b1e-4d2a-9c44-0a1b2c3d4e5f
ESP_GUID=8f3a1c52-6b1e-4d2a-9c44-0a1b2c3d4e01
ROOT_PART_GUID=8f3a1c52-6b1e-4d2a-9c44-0a1b2c3d4e02
ROOT_FS_UUID=5a7e0d1c-3f6b-4e8a-9d21-6c0b1a2f3e4d
ESP_VOLID=4a4e4752 # FAT volume serial "HANG"-ish, any 32-bit hex
ROOT_LABEL=hangar-root

# Geometry: 1 MiB alignment; the image is MIN_DISK_MIB unless the contents
# need more (a big agent binary), then rounded up to a multiple of 8 MiB.
MIN_DISK_MIB=64
# The kernel command line, shared by syslinux.cfg and the UKI. quiet keeps
# the (slow, emulated) serial console from dominating boot time under TCG;
# drop it to see the kernel log.
CMDLINE="console=ttyS0,115200 root=LABEL=$ROOT_LABEL rw quiet no_timer_check"

# Modules the initramfs loads (their dependencies are added automatically)
# and the extra ones copied into the root's /lib/modules for later use.
INITRAMFS_MODULES=(virtio_pci virtio_blk virtio_console)
ROOTFS_EXTRA_MODULES=(virtio_rng virtio_net isofs vfat nls_cp437 nls_ascii nls_utf8)

usage() {
	cat <<EOF
usage: $0 [--agent PATH | --no-agent] [--specialized] --out FILE

  --agent PATH   install this static binary as /usr/sbin/hangar-agent
  --no-agent     image without an agent (init prints "testimage: booted, no agent")
                 default: build ./cmd/hangar-agent (CGO_ENABLED=0) if it has Go
                 files, else behave as --no-agent with a warning
  --specialized  pre-provision an identity (hostname orig-host, user orig,
                 /var/lib/hangar-agent/instance-id = orig-instance)
  --out FILE     the raw disk image to write

Debian packages are cached in $DEB_DIR (delete it to refetch).
EOF
}

LOG_PREFIX=build.sh
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

agent_mode=default # default | path | none
agent_path=""
specialized=0
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--agent)
		[ $# -ge 2 ] || die "--agent needs a path"
		agent_mode=path
		agent_path=$2
		shift 2
		;;
	--no-agent)
		agent_mode=none
		shift
		;;
	--specialized)
		specialized=1
		shift
		;;
	--out)
		[ $# -ge 2 ] || die "--out needs a file"
		out=$2
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done
[ -n "$out" ] || {
	usage >&2
	die "--out is required"
}
if [ "$agent_mode" = path ]; then
	[ -f "$agent_path" ] || die "--agent $agent_path: no such file"
fi

for tool in dpkg-deb sfdisk mkfs.ext4 debugfs e2fsck mkfs.vfat mmd mcopy syslinux objcopy objdump readelf cpio gzip truncate; do
	command -v "$tool" >/dev/null || die "missing host tool $tool (apt-get install fdisk e2fsprogs dosfstools mtools syslinux syslinux-common binutils cpio)"
done
GPTMBR=/usr/lib/syslinux/mbr/gptmbr.bin
[ -f "$GPTMBR" ] || die "missing $GPTMBR (apt-get install syslinux-common)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hangar-testimage.XXXXXX")
cleanup() {
	if [ "${KEEP_WORK:-}" = 1 ]; then
		log "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# The agent (first, so a bad --agent fails before any download).
# ---------------------------------------------------------------------------
AGENT=""
case "$agent_mode" in
path) AGENT=$agent_path ;;
none) ;;
default)
	if compgen -G "$REPO/cmd/hangar-agent/*.go" >/dev/null; then
		command -v go >/dev/null || die "go not found; pass --agent PATH or --no-agent"
		log "building ./cmd/hangar-agent (CGO_ENABLED=0)"
		(cd "$REPO" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o "$WORK/hangar-agent" ./cmd/hangar-agent)
		AGENT="$WORK/hangar-agent"
	else
		log "WARNING: $REPO/cmd/hangar-agent has no Go files yet; building the image WITHOUT an agent (as --no-agent)"
	fi
	;;
esac
[ -z "$AGENT" ] || check_static "$AGENT"

# ---------------------------------------------------------------------------
# Debian packages: fetched once with apt-get download into out/debs, so a
# rebuild needs no network. Nothing is installed on the host.
# ---------------------------------------------------------------------------
mkdir -p "$DEB_DIR"

kernel_deb=$(kernel_deb)
busybox_deb=$(get_deb 'busybox-static_*.deb' busybox-static)
stub_deb=$(get_deb 'systemd-boot-efi_*.deb' systemd-boot-efi)
for d in "$kernel_deb" "$busybox_deb" "$stub_deb"; do
	log "using $(basename "$d")"
done

PKG="$WORK/pkg"
mkdir -p "$PKG"
dpkg-deb -x "$kernel_deb" "$PKG"
dpkg-deb -x "$busybox_deb" "$PKG"
dpkg-deb -x "$stub_deb" "$PKG"

load_kernel "$PKG"
STUB="$PKG/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
BUSYBOX="$PKG/bin/busybox"
for f in "$STUB" "$BUSYBOX"; do
	[ -f "$f" ] || die "expected $f in the extracted packages"
done

# ext4 is built into Debian's kernels, but check: if a kernel ever makes it
# a module, the initramfs must load it (and crc32c, which it wants).
want=("${INITRAMFS_MODULES[@]}")
grep -q '^CONFIG_EXT4_FS=m' "$KCONFIG" && want+=(ext4)
grep -q '^CONFIG_CRYPTO_CRC32C=m' "$KCONFIG" && want+=(crc32c_generic)
for m in "${want[@]}"; do resolve "$m"; done
INITRD_ORDER=("${ORDER[@]}")
for m in "${ROOTFS_EXTRA_MODULES[@]}"; do resolve "$m"; done
ROOTFS_ORDER=("${ORDER[@]}")
log "initramfs modules (load order): ${INITRD_ORDER[*]}"
log "root /lib/modules: ${ROOTFS_ORDER[*]}"

# ---------------------------------------------------------------------------
# Root filesystem tree.
# ---------------------------------------------------------------------------
ROOT="$WORK/root"
mkdir -p "$ROOT"
install_busybox "$BUSYBOX" "$ROOT"
install_modules "$ROOT" "${ROOTFS_ORDER[@]}"
# modules.dep in depmod's format (dependencies listed so that the last is
# loaded first) so busybox modprobe works in the guest.
{
	for m in "${ROOTFS_ORDER[@]}"; do
		SEEN=()
		ORDER=()
		resolve "$m"
		line="${MODPATH[$m]}:"
		for ((i = ${#ORDER[@]} - 2; i >= 0; i--)); do line+=" ${MODPATH[${ORDER[$i]}]}"; done
		echo "$line"
	done
} >"$ROOT/lib/modules/$KVER/modules.dep"
: >"$ROOT/lib/modules/$KVER/modules.alias"
cp "$MODDIR/modules.builtin" "$ROOT/lib/modules/$KVER/"

(cd "$ROOT" && mkdir -p dev proc sys run tmp root home etc/init.d etc/ssh etc/sudoers.d \
	var/lib/hangar-agent var/log usr/sbin mnt)
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"
chmod 0750 "$ROOT/etc/sudoers.d"
ln -sfn /run "$ROOT/var/run"
install -m 0644 "$HERE/guest/inittab" "$ROOT/etc/inittab"
install -m 0755 "$HERE/guest/rcS" "$ROOT/etc/init.d/rcS"
install -m 0755 "$HERE/guest/hangar-agent.service" "$ROOT/etc/init.d/hangar-agent"
# busybox udhcpc runs this script on lease events (Debian builds it with
# /etc/udhcpc/default.script as the default; busybox-static ships no script).
install -D -m 0755 "$HERE/guest/udhcpc.script" "$ROOT/etc/udhcpc/default.script"
[ -z "$AGENT" ] || install -m 0755 "$AGENT" "$ROOT/usr/sbin/hangar-agent"

# Accounts in the ordinary shadow-utils shape the agent edits. Password
# fields "!" = locked. Day 19723 = 2024-01-01 (days since the epoch).
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$ROOT/etc/shadow" <<'EOF'
root:!:19723:0:99999:7:::
daemon:*:19723:0:99999:7:::
sshd:*:19723:0:99999:7:::
nobody:*:19723:0:99999:7:::
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:
sudo:x:27:
shadow:x:42:
users:x:100:
nogroup:x:65534:
EOF
cat >"$ROOT/etc/gshadow" <<'EOF'
root:*::
daemon:*::
adm:*::
tty:*::
disk:*::
wheel:*::
sudo:*::
shadow:*::
users:*::
nogroup:*::
EOF
chmod 0640 "$ROOT/etc/shadow" "$ROOT/etc/gshadow"
cat >"$ROOT/etc/shells" <<'EOF'
/bin/sh
/bin/ash
EOF
cat >"$ROOT/etc/profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\u@\h:\w\$ '
EOF
cat >"$ROOT/etc/os-release" <<'EOF'
NAME="Hangar test image"
ID=hangar-testimage
PRETTY_NAME="Hangar test image (busybox)"
HOME_URL="https://github.com/hangarvm/hangar"
EOF
cat >"$ROOT/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost
EOF
cat >"$ROOT/etc/fstab" <<EOF
LABEL=$ROOT_LABEL / ext4 rw 0 1
EOF
# systemd's "not yet initialized" convention: a generalized disk.
echo uninitialized >"$ROOT/etc/machine-id"
echo localhost >"$ROOT/etc/hostname"

# uid/gid fix-ups applied inside the ext4 image (see below); default 0:0.
declare -A OWNER=([/etc/shadow]=0:42 [/etc/gshadow]=0:42)

if [ "$specialized" = 1 ]; then
	# A specialized disk per docs/guest-protocol.md: it already belongs to
	# one machine, recorded by /var/lib/hangar-agent/instance-id (written
	# without a trailing newline).
	echo orig-host >"$ROOT/etc/hostname"
	echo 'orig:x:1000:1000:orig:/home/orig:/bin/sh' >>"$ROOT/etc/passwd"
	echo 'orig:!:19723:0:99999:7:::' >>"$ROOT/etc/shadow"
	echo 'orig:x:1000:' >>"$ROOT/etc/group"
	echo 'orig:!::' >>"$ROOT/etc/gshadow"
	mkdir -p "$ROOT/home/orig"
	chmod 0750 "$ROOT/home/orig"
	OWNER[/home/orig]=1000:1000
	printf '%s' orig-instance >"$ROOT/var/lib/hangar-agent/instance-id"
fi

# ---------------------------------------------------------------------------
# initramfs: busybox + /init + the virtio modules, as a gzip'd newc cpio.
# ---------------------------------------------------------------------------
INITRD_ROOT="$WORK/initramfs"
mkdir -p "$INITRD_ROOT"/{dev,proc,sys,newroot,etc}
install_busybox "$BUSYBOX" "$INITRD_ROOT"
install_modules "$INITRD_ROOT" "${INITRD_ORDER[@]}"
for m in "${INITRD_ORDER[@]}"; do echo "$KVER/${MODPATH[$m]}"; done >"$INITRD_ROOT/etc/initramfs-modules"
install -m 0755 "$HERE/guest/init" "$INITRD_ROOT/init"

find "$ROOT" "$INITRD_ROOT" -exec touch -h -d "@$EPOCH" {} +
INITRD="$WORK/initrd.img"
initramfs_cpio "$INITRD_ROOT" | gzip -n -9 >"$INITRD"

# ---------------------------------------------------------------------------
# Unified kernel image: systemd-stub + .osrel + .cmdline + .initrd + .linux.
# Each new section starts at the end of the previous one rounded up to the
# stub's SectionAlignment (the old fixed 0x20000/0x30000/0x2000000 layout
# breaks as soon as a section outgrows its gap).
# ---------------------------------------------------------------------------
UKI="$WORK/BOOTX64.EFI"
printf '%s\n' "$CMDLINE" >"$WORK/cmdline"
cp "$ROOT/etc/os-release" "$WORK/os-release"
align=$(objdump -p "$STUB" | awk '$1 == "SectionAlignment" { print $2 }')
[ -n "$align" ] || die "cannot read SectionAlignment of $STUB"
align=$((16#$align))
# end of the stub's last section = max(VMA + size) over "objdump -h" rows
next=0
while read -r size vma; do
	end=$((16#$vma + 16#$size))
	[ "$end" -le "$next" ] || next=$end
done < <(objdump -h "$STUB" | awk '$1 ~ /^[0-9]+$/ { print $3, $4 }')
align_up() { echo $((($1 + align - 1) / align * align)); }
objcopy_args=()
for sec in .osrel:"$WORK/os-release" .cmdline:"$WORK/cmdline" .initrd:"$INITRD" .linux:"$VMLINUZ"; do
	name=${sec%%:*}
	file=${sec#*:}
	next=$(align_up "$next")
	objcopy_args+=(--add-section "$name=$file" --change-section-vma "$name=$(printf '0x%x' "$next")")
	next=$((next + $(stat -Lc %s "$file")))
done
objcopy "${objcopy_args[@]}" "$STUB" "$UKI"

# ---------------------------------------------------------------------------
# Sizes (MiB) and the ESP (FAT, syslinux for BIOS + the UKI for UEFI).
# ---------------------------------------------------------------------------
MiB=$((1024 * 1024))
ceil_mib() { echo $((($1 + MiB - 1) / MiB)); }
kernel_size=$(stat -c %s "$VMLINUZ")
initrd_size=$(stat -c %s "$INITRD")
uki_size=$(stat -c %s "$UKI")
# kernel + initrd for syslinux, the UKI, ~100 KiB of syslinux; FAT overhead.
esp_mib=$(($(ceil_mib $((kernel_size + initrd_size + uki_size))) + 3))
# root: contents + 25% + 4 MiB for the journal and some room to write.
root_used=$(du -s --apparent-size -B1 "$ROOT" | cut -f1)
root_need_mib=$(($(ceil_mib $((root_used * 5 / 4))) + 4))
# 1 MiB before the ESP (GPT + alignment), 1 MiB after root (backup GPT).
disk_mib=$((1 + esp_mib + root_need_mib + 1))
if [ "$disk_mib" -lt "$MIN_DISK_MIB" ]; then
	disk_mib=$MIN_DISK_MIB
else
	disk_mib=$(((disk_mib + 7) / 8 * 8))
fi
root_mib=$((disk_mib - 2 - esp_mib))
esp_start=$((1 * MiB / 512))
root_start=$(((1 + esp_mib) * MiB / 512))
log "disk ${disk_mib} MiB: ESP ${esp_mib} MiB at LBA $esp_start, root ${root_mib} MiB at LBA $root_start"

ESP="$WORK/esp.img"
# -h: hidden sectors = partition start, which syslinux's FAT boot sector
# adds to find its own files.
mkfs.vfat -C -F 16 -n HANGAR-ESP -i "$ESP_VOLID" -h "$esp_start" "$ESP" $((esp_mib * 1024)) >/dev/null
cat >"$WORK/syslinux.cfg" <<EOF
# syslinux (BIOS boot path) for the Hangar test image
DEFAULT hangar
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL hangar
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $CMDLINE
EOF
# Stage the tree and copy it in one go: mcopy -m keeps the (fixed) mtimes.
ESP_TREE="$WORK/esp"
install -D -m 0644 "$UKI" "$ESP_TREE/EFI/BOOT/BOOTX64.EFI"
install -D -m 0644 "$WORK/syslinux.cfg" "$ESP_TREE/syslinux/syslinux.cfg"
install -m 0644 "$VMLINUZ" "$ESP_TREE/vmlinuz"
install -m 0644 "$INITRD" "$ESP_TREE/initrd.img"
find "$ESP_TREE" -exec touch -d "@$EPOCH" {} +
export MTOOLS_SKIP_CHECK=1
mcopy -s -m -i "$ESP" "$ESP_TREE"/EFI "$ESP_TREE"/syslinux "$ESP_TREE"/vmlinuz "$ESP_TREE"/initrd.img ::/
# Writes syslinux's boot sector into the FAT and ldlinux.sys/.c32 into
# /syslinux, through mtools: no mount needed.
syslinux --install --directory /syslinux "$ESP"

# ---------------------------------------------------------------------------
# Root ext4, built as a file from the tree.
# ---------------------------------------------------------------------------
ROOTIMG="$WORK/root.img"
truncate -s $((root_mib * MiB)) "$ROOTIMG"
E2FSPROGS_FAKE_TIME=$EPOCH mkfs.ext4 -q -F -L "$ROOT_LABEL" -U "$ROOT_FS_UUID" \
	-E "hash_seed=$ROOT_FS_UUID,root_owner=0:0" -d "$ROOT" "$ROOTIMG"
# mkfs -d copies the builder's uid/gid; the guest wants root-owned files
# (and a few exceptions). debugfs edits the inodes without mounting. It also
# pins ctime/crtime/atime, which mkfs takes from the build tree (reading
# files for cpio/mkfs moves atime; touch cannot set ctime).
{
	while read -r path; do
		owner=${OWNER[$path]:-0:0}
		echo "sif \"$path\" uid ${owner%%:*}"
		echo "sif \"$path\" gid ${owner##*:}"
		echo "sif \"$path\" ctime @$EPOCH"
		echo "sif \"$path\" crtime @$EPOCH"
		echo "sif \"$path\" atime @$EPOCH"
	done < <(echo /; cd "$ROOT" && find . -mindepth 1 | sed 's|^\.||' | LC_ALL=C sort)
} >"$WORK/chown.debugfs"
E2FSPROGS_FAKE_TIME=$EPOCH debugfs -w -f "$WORK/chown.debugfs" "$ROOTIMG" >/dev/null 2>"$WORK/debugfs.err" ||
	die "debugfs failed: $(cat "$WORK/debugfs.err")"
if grep -v '^debugfs ' "$WORK/debugfs.err" | grep -q .; then
	die "debugfs: $(cat "$WORK/debugfs.err")"
fi
e2fsck -fn "$ROOTIMG" >"$WORK/e2fsck.log" 2>&1 || die "root fs check failed: $(cat "$WORK/e2fsck.log")"

# ---------------------------------------------------------------------------
# The disk: GPT, gptmbr boot code, both filesystems.
# ---------------------------------------------------------------------------
DISK="$WORK/disk.img"
truncate -s $((disk_mib * MiB)) "$DISK"
# ESP with attribute LegacyBIOSBootable (GPT attribute bit 2), which is how
# gptmbr.bin picks the partition whose boot sector it chain-loads.
sfdisk --quiet --no-reread --no-tell-kernel "$DISK" <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors

start=$esp_start, size=$((esp_mib * MiB / 512)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$ESP_GUID, name="EFI System", attrs="LegacyBIOSBootable"
start=$root_start, size=$((root_mib * MiB / 512)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$ROOT_PART_GUID, name="$ROOT_LABEL"
EOF
# Boot code only (first 440 bytes): the disk signature and the protective
# MBR partition entry sfdisk wrote stay.
dd if="$GPTMBR" of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$ESP" of="$DISK" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$ROOTIMG" of="$DISK" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none

mkdir -p "$(dirname "$out")"
mv -f "$DISK" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
agent_desc=${AGENT:+agent $(basename "$AGENT")}
log "wrote $out (raw, ${disk_mib} MiB; kernel $KVER; ${agent_desc:-no agent}$([ "$specialized" = 1 ] && echo ', specialized'))"
