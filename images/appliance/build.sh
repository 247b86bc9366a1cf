#!/usr/bin/env bash
# build.sh: build Hangar's appliance, the throwaway VM that does offline work
# on guest disks (generalize and its file system checks), so that no host
# process ever parses a guest file system.
#
#   images/appliance/build.sh --agent PATH --out DIR
#
# It writes DIR/vmlinuz (Debian's cloud kernel) and DIR/initrd.img, an
# uncompressed initramfs that is the appliance's whole root: busybox, the
# kernel modules for virtio and the file systems it reads (ext4 is built in,
# xfs and btrfs are modules), e2fsck, xfs_repair and btrfs with the shared
# libraries they need, and hangar-agent, which does the work (see /init).
# The host boots it directly (-kernel/-initrd), with the disk as its only
# drive and no network. Everything comes from Debian packages fetched with
# apt-get download into out/debs; nothing is installed on the host.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEB_DIR=${DEB_DIR:-$HERE/out/debs}
EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
LOG_PREFIX=appliance/build.sh
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

MODULES=(virtio_pci virtio_blk virtio_console virtio_rng xfs btrfs)
# The file system tools and where Debian puts them.
TOOL_PACKAGES=(e2fsprogs xfsprogs btrfs-progs)
TOOLS=(sbin/e2fsck sbin/xfs_repair bin/btrfs)
# The shared libraries those tools need, by soname, and the package of each.
# A soname missing here stops the build with its name.
declare -A LIBPKG=(
	[libc.so.6]=libc6 [ld-linux-x86-64.so.2]=libc6
	[libext2fs.so.2]=libext2fs2 [libe2p.so.2]=libext2fs2 [libcom_err.so.2]=libcom-err2
	[libblkid.so.1]=libblkid1 [libuuid.so.1]=libuuid1 [liburcu.so.8]=liburcu8
	[libudev.so.1]=libudev1 [libz.so.1]=zlib1g [liblzo2.so.2]=liblzo2-2 [libzstd.so.1]=libzstd1
	[libcap.so.2]=libcap2 [libgcc_s.so.1]=libgcc-s1
)

usage() { echo "usage: $0 --agent PATH --out DIR" >&2; }
agent="" out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--agent) agent=${2:?--agent needs a path}; shift 2 ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage; die "unknown argument: $1" ;;
	esac
done
[ -n "$agent" ] && [ -n "$out" ] || { usage; die "--agent and --out are required"; }
[ -f "$agent" ] || die "--agent $agent: no such file"
check_static "$agent"
for tool in dpkg-deb objcopy readelf cpio; do
	command -v "$tool" >/dev/null || die "missing host tool $tool (apt-get install binutils cpio)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hangar-appliance.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DEB_DIR"
PKG="$WORK/pkg"
mkdir -p "$PKG"
dpkg-deb -x "$(kernel_deb)" "$PKG"
dpkg-deb -x "$(get_deb 'busybox-static_*.deb' busybox-static)" "$PKG"
for p in "${TOOL_PACKAGES[@]}"; do
	dpkg-deb -x "$(get_deb "${p}_*.deb" "$p")" "$PKG"
done
load_kernel "$PKG"

ROOT="$WORK/root"
mkdir -p "$ROOT"/{dev,proc,sys,mnt/target,etc,sbin,bin,lib/x86_64-linux-gnu,lib64,tmp}
install_busybox "$PKG/bin/busybox" "$ROOT"
for m in "${MODULES[@]}"; do resolve "$m"; done
install_modules "$ROOT" "${ORDER[@]}"
for m in "${ORDER[@]}"; do echo "$KVER/${MODPATH[$m]}"; done >"$ROOT/etc/modules"
log "modules (load order): ${ORDER[*]}"

# The tools, then the closure of their shared libraries, found by soname in
# the unpacked library packages.
LIBS="$WORK/libs"
mkdir -p "$LIBS"
unpacked=" "
queue=()
for t in "${TOOLS[@]}"; do
	[ -f "$PKG/$t" ] || die "expected $t in ${TOOL_PACKAGES[*]}"
	install -m 0755 "$PKG/$t" "$ROOT/$t"
	queue+=("$PKG/$t")
done
declare -A HAVE=()
while [ ${#queue[@]} -gt 0 ]; do
	elf=${queue[0]}
	queue=("${queue[@]:1}")
	for so in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[ -z "${HAVE[$so]:-}" ] || continue
		pkg=${LIBPKG[$so]:-}
		[ -n "$pkg" ] || die "$(basename "$elf") needs $so, which build.sh does not know the package of: add it to LIBPKG"
		if [[ $unpacked != *" $pkg "* ]]; then
			dpkg-deb -x "$(get_deb "${pkg}_*.deb" "$pkg")" "$LIBS"
			unpacked+="$pkg "
		fi
		lib=$(find "$LIBS/lib" "$LIBS/usr/lib" -name "$so" \( -type f -o -type l \) -print -quit 2>/dev/null)
		[ -n "$lib" ] || die "package $pkg has no $so"
		lib=$(readlink -f "$lib")
		install -m 0755 "$lib" "$ROOT/lib/x86_64-linux-gnu/$so"
		HAVE[$so]=1
		queue+=("$lib")
	done
done
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/lib64/ld-linux-x86-64.so.2"
log "libraries: ${!HAVE[*]}"

install -m 0755 "$agent" "$ROOT/sbin/hangar-agent"
install -m 0755 "$HERE/init" "$ROOT/init"

mkdir -p "$out"
find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
# Uncompressed: under software emulation the kernel inflates a gzip'd
# initramfs more slowly than QEMU loads the bigger file.
initramfs_cpio "$ROOT" >"$out/initrd.img.tmp"
install -m 0644 "$VMLINUZ" "$out/vmlinuz.tmp"
mv -f "$out/initrd.img.tmp" "$out/initrd.img"
mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"
log "wrote $out/vmlinuz and $out/initrd.img ($(($(stat -c %s "$out/initrd.img") / 1048576)) MiB; kernel $KVER)"
