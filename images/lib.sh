# images/lib.sh: what the guest builders share (sourced by testimage/build.sh
# and appliance/build.sh). Everything comes from Debian packages fetched with
# apt-get download and unpacked with dpkg-deb -x: nothing is installed on the
# host, no root-only operation is needed.
#
# The sourcing script sets DEB_DIR (the package cache) and LOG_PREFIX first.

log() { echo "${LOG_PREFIX:-build}: $*" >&2; }
die() {
	echo "${LOG_PREFIX:-build}: error: $*" >&2
	exit 1
}

# newest cached .deb whose file name matches a glob, or nothing
cached_deb() {
	local f
	f=$(find "$DEB_DIR/" -maxdepth 1 -name "$1" -print | sort -V | tail -n 1)
	[ -n "$f" ] && echo "$f"
}

apt_download() {
	local opts=()
	# As root, apt's _apt sandbox user cannot write to our cache dir; apt
	# then warns and downloads as root anyway. Say so up front.
	[ "$(id -u)" = 0 ] && opts=(-o APT::Sandbox::User=root)
	log "downloading $1"
	(cd "$DEB_DIR" && apt-get "${opts[@]}" -q download "$1" >&2) ||
		die "apt-get download $1 failed (run apt-get update first?)"
}

get_deb() { # get_deb GLOB PACKAGE -> path of the .deb
	local f
	f=$(cached_deb "$1") || true
	if [ -z "$f" ]; then
		apt_download "$2"
		f=$(cached_deb "$1") || die "apt-get download $2 produced no $1"
	fi
	echo "$f"
}

# The cloud kernel: linux-image-cloud-amd64 is a metapackage; its dependency
# names the versioned package (linux-image-6.1.0-NN-cloud-amd64) that holds
# the files. A cached versioned kernel .deb is used as is.
kernel_deb() {
	local deb kpkg
	deb=$(find "$DEB_DIR/" -maxdepth 1 -name 'linux-image-[0-9]*-cloud-amd64_*.deb' -print | sort -V | tail -n 1)
	if [ -z "$deb" ]; then
		kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
		[ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update first?)"
		deb=$(get_deb "${kpkg}_*.deb" "$kpkg")
	fi
	echo "$deb"
}

# load_kernel PKGDIR: after dpkg-deb -x of the kernel into PKGDIR, sets KVER,
# VMLINUZ, KCONFIG, MODDIR and the module maps used by resolve.
load_kernel() {
	local pkg=$1 rel name
	KVER=$(find "$pkg/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n 1)
	[ -n "$KVER" ] || die "no /lib/modules/<version> in the kernel package"
	VMLINUZ="$pkg/boot/vmlinuz-$KVER"
	KCONFIG="$pkg/boot/config-$KVER"
	MODDIR="$pkg/lib/modules/$KVER"
	for f in "$VMLINUZ" "$KCONFIG"; do
		[ -f "$f" ] || die "expected $f in the kernel package"
	done
	# The .deb ships no modules.dep (depmod makes it at install time), so
	# dependencies come from each module's own .modinfo "depends=" field, the
	# list modpost records at kernel build time.
	declare -gA MODPATH=() BUILTIN=() SEEN=()
	ORDER=()
	while read -r rel; do
		name=$(basename "$rel" .ko)
		MODPATH[${name//-/_}]=$rel
	done < <(cd "$MODDIR" && find kernel -name '*.ko' | sort)
	[ "${#MODPATH[@]}" -gt 0 ] || die "no uncompressed .ko modules under $MODDIR"
	while read -r rel; do
		name=$(basename "$rel" .ko)
		BUILTIN[${name//-/_}]=1
	done <"$MODDIR/modules.builtin"
}

mod_depends() { # names from the module's .modinfo depends= entry
	objcopy -O binary --only-section=.modinfo "$MODDIR/${MODPATH[$1]}" /dev/stdout |
		tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}

# Depth-first walk: every module is appended to ORDER after its dependencies,
# which is the order insmod needs. Built-in modules are skipped.
resolve() {
	local m=${1//-/_} d
	[ -z "${SEEN[$m]:-}" ] || return 0
	SEEN[$m]=1
	[ -z "${BUILTIN[$m]:-}" ] || return 0
	[ -n "${MODPATH[$m]:-}" ] || die "kernel $KVER has no module $m"
	for d in $(mod_depends "$m"); do
		resolve "$d"
	done
	ORDER+=("$m")
}

install_modules() { # install_modules DESTROOT NAME... (keeps kernel/... paths)
	local dest=$1 m
	shift
	for m in "$@"; do
		install -D -m 0644 "$MODDIR/${MODPATH[$m]}" "$dest/lib/modules/$KVER/${MODPATH[$m]}"
	done
}

# busybox applet links (bin/sh, sbin/init, usr/bin/awk, ...). The static
# binary runs on the (amd64) host, so ask it for its own list.
install_busybox() { # install_busybox BUSYBOX DESTROOT
	local busybox=$1 dest=$2 link
	install -D -m 0755 "$busybox" "$dest/bin/busybox"
	while read -r link; do
		link=${link#/}
		[ "$link" = bin/busybox ] && continue
		mkdir -p "$dest/$(dirname "$link")"
		ln -sf /bin/busybox "$dest/$link"
	done < <("$busybox" --list-full)
}

# check_static FILE: refuse a dynamically linked binary (the guests carry no
# libc unless the builder adds one).
check_static() {
	readelf -h "$1" >/dev/null 2>&1 || die "$1 is not an ELF binary"
	if LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; then
		die "$1 is dynamically linked; build it with CGO_ENABLED=0"
	fi
}

# One cpio newc entry, written by hand: the kernel opens /dev/console in the
# initramfs before running /init, and creating that device node for real
# would need mknod (root). The kernel unpacks concatenated archives.
cpio_entry() { # cpio_entry NAME MODE(octal) RDEVMAJOR RDEVMINOR
	local name=$1 namesize pad
	namesize=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 $((8#$2)) 0 0 1 "${EPOCH:-0}" 0 0 0 "$3" "$4" "$namesize" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	head -c "$pad" /dev/zero
}

# initramfs_cpio DIR: the newc archive of DIR (owned by root, sorted, with a
# /dev/console node) on stdout, uncompressed.
initramfs_cpio() {
	{
		cpio_entry dev 040755 0 0
		cpio_entry dev/console 020600 5 1
		cpio_entry 'TRAILER!!!' 0 0 0
	}
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible)
}

# ---------------------------------------------------------------------------
# Boot pieces shared by the disk images that boot both with BIOS (syslinux)
# and with UEFI (a unified kernel image); see REFERENCE.md section 4.
# ---------------------------------------------------------------------------

# make_uki STUB OSREL CMDLINE INITRD VMLINUZ OUT: a unified kernel image,
# systemd-stub + .osrel + .cmdline + .initrd + .linux. Each new section starts
# at the end of the previous one rounded up to the stub's SectionAlignment
# (the old fixed 0x20000/0x30000/0x2000000 layout breaks as soon as a section
# outgrows its gap). CMDLINE is the command line itself, not a file.
make_uki() {
	local stub=$1 osrel=$2 cmdline=$3 initrd=$4 vmlinuz=$5 out=$6
	local align next size vma end sec name file cmdfile
	cmdfile=$(mktemp)
	printf '%s\n' "$cmdline" >"$cmdfile"
	align=$(objdump -p "$stub" | awk '$1 == "SectionAlignment" { print $2 }')
	[ -n "$align" ] || die "cannot read SectionAlignment of $stub"
	align=$((16#$align))
	# end of the stub's last section = max(VMA + size) over "objdump -h" rows
	next=0
	while read -r size vma; do
		end=$((16#$vma + 16#$size))
		[ "$end" -le "$next" ] || next=$end
	done < <(objdump -h "$stub" | awk '$1 ~ /^[0-9]+$/ { print $3, $4 }')
	local args=()
	for sec in .osrel:"$osrel" .cmdline:"$cmdfile" .initrd:"$initrd" .linux:"$vmlinuz"; do
		name=${sec%%:*}
		file=${sec#*:}
		next=$(((next + align - 1) / align * align))
		args+=(--add-section "$name=$file" --change-section-vma "$name=$(printf '0x%x' "$next")")
		next=$((next + $(stat -Lc %s "$file")))
	done
	objcopy "${args[@]}" "$stub" "$out"
	rm -f "$cmdfile"
}

# make_esp IMG MIB START_LBA VOLID CMDLINE VMLINUZ INITRD UKI: a FAT ESP image
# holding syslinux (BIOS: /syslinux/syslinux.cfg boots /vmlinuz + /initrd.img)
# and the UKI at \EFI\BOOT\BOOTX64.EFI (UEFI). Files get mtime EPOCH if set.
make_esp() {
	local img=$1 mib=$2 start=$3 volid=$4 cmdline=$5 vmlinuz=$6 initrd=$7 uki=$8
	local tree
	tree=$(mktemp -d)
	# -h: hidden sectors = partition start, which syslinux's FAT boot sector
	# adds to find its own files.
	rm -f "$img"
	mkfs.vfat -C -F 16 -n HANGAR-ESP -i "$volid" -h "$start" "$img" $((mib * 1024)) >/dev/null
	install -D -m 0644 "$uki" "$tree/EFI/BOOT/BOOTX64.EFI"
	mkdir -p "$tree/syslinux"
	cat >"$tree/syslinux/syslinux.cfg" <<EOC
DEFAULT linux
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL linux
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $cmdline
EOC
	install -m 0644 "$vmlinuz" "$tree/vmlinuz"
	install -m 0644 "$initrd" "$tree/initrd.img"
	[ -z "${EPOCH:-}" ] || find "$tree" -exec touch -d "@$EPOCH" {} +
	# Copy the tree in one go: mcopy -m keeps the mtimes.
	MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$img" "$tree"/EFI "$tree"/syslinux "$tree"/vmlinuz "$tree"/initrd.img ::/
	# Writes syslinux's boot sector into the FAT and ldlinux.sys/.c32 into
	# /syslinux, through mtools: no mount needed.
	syslinux --install --directory /syslinux "$img"
	rm -rf "$tree"
}

# gpt_disk DISK DISK_MIB ESP_IMG ESP_MIB ROOT_IMG ROOT_NAME DISK_GUID ESP_GUID ROOT_GUID:
# a raw disk: GPT with the ESP at 1 MiB (attribute LegacyBIOSBootable, which
# is how gptmbr.bin picks the partition whose boot sector it chain-loads),
# then the root partition (type Linux root x86-64) filling the rest but the
# last MiB (backup GPT); syslinux's gptmbr.bin in the first 440 bytes.
gpt_disk() {
	local disk=$1 disk_mib=$2 esp=$3 esp_mib=$4 root=$5 root_name=$6
	local disk_guid=$7 esp_guid=$8 root_guid=$9
	local MiB=$((1024 * 1024)) root_mib gptmbr=/usr/lib/syslinux/mbr/gptmbr.bin
	root_mib=$((disk_mib - 2 - esp_mib))
	[ "$(stat -c %s "$root")" -le $((root_mib * MiB)) ] || die "root filesystem larger than its ${root_mib} MiB partition"
	[ -f "$gptmbr" ] || die "missing $gptmbr (apt-get install syslinux-common)"
	rm -f "$disk"
	truncate -s $((disk_mib * MiB)) "$disk"
	sfdisk --quiet --no-reread --no-tell-kernel "$disk" <<EOS
label: gpt
label-id: $disk_guid
unit: sectors

start=$((MiB / 512)), size=$((esp_mib * MiB / 512)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$esp_guid, name="EFI System", attrs="LegacyBIOSBootable"
start=$(((1 + esp_mib) * MiB / 512)), size=$((root_mib * MiB / 512)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$root_guid, name="$root_name"
EOS
	# Boot code only (first 440 bytes): the disk signature and the protective
	# MBR partition entry sfdisk wrote stay.
	dd if="$gptmbr" of="$disk" bs=440 count=1 conv=notrunc status=none
	dd if="$esp" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
	dd if="$root" of="$disk" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none
}
