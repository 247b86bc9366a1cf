#!/usr/bin/env bash
# build.sh: build Hangar's stock test guests: three raw disk images made of
# Debian 12 packages only (cloud-init, waagent, qemu-guest-agent, the cloud
# kernel; no code of Hangar's), that boot both with BIOS (SeaBIOS -> gptmbr ->
# syslinux) and with UEFI (OVMF -> unified kernel image). One root is built
# with mmdebstrap; the flavors differ only by the files under flavors/ and the
# waagent.conf settings in FLAVOR_WAAGENT below. See README.md.
#
#   images/stockguest/build.sh [--out DIR] [--force]
#
# Writes DIR/{azure,waagent,nocloud}.raw (default DIR: images/stockguest/out).
# Needs root: mmdebstrap --mode=root chroots into the new root and mounts
# /proc, /sys and /dev there while the packages' scripts run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=stockguest
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

SUITE=bookworm
FLAVORS=(azure waagent nocloud)
# Packages on top of the minbase variant. Recommends are not installed
# (mmdebstrap's default), so everything a boot needs is listed: the kernel's
# initramfs (initramfs-tools, zstd: its default compressor), udev, ifupdown
# and isc-dhcp-client (cloud-init's renderer on Debian and the DHCP client
# whose lease file waagent reads), iproute2, dbus (hostnamectl, used by
# cloud-init to set the host name), growpart (cloud-guest-utils) and
# e2fsprogs (resize2fs), procps (ps, pgrep for run-command tests).
PACKAGES=(
	linux-image-cloud-amd64 initramfs-tools zstd
	systemd systemd-sysv udev dbus
	openssh-server sudo
	cloud-init waagent qemu-guest-agent
	ifupdown isc-dhcp-client iproute2 netbase
	cloud-guest-utils e2fsprogs procps
)
# waagent.conf settings of each flavor (Debian's file has each key; any other
# key keeps Debian's value). azure: Azure's documented steps for images that
# provision with cloud-init (waagent chooses cloud-init when it is enabled;
# cloud-init, not waagent, handles the resource disk). waagent: waagent
# provisions (cloud-init is disabled by flavors/waagent).
declare -A FLAVOR_WAAGENT=(
	[azure]="Provisioning.Agent=auto ResourceDisk.Format=n ResourceDisk.EnableSwap=n"
	[waagent]="Provisioning.Agent=waagent"
	[nocloud]=""
)

DISK_MIB=2048
ESP_MIB_MIN=64
ROOT_LABEL=stockguest-root
ROOT_NAME=stockguest-root
DISK_GUID=5d0c7e2a-1b3f-4c8e-9a61-3e2f4b5c6d70
ESP_GUID=5d0c7e2a-1b3f-4c8e-9a61-3e2f4b5c6d71
ROOT_PART_GUID=5d0c7e2a-1b3f-4c8e-9a61-3e2f4b5c6d72
ESP_VOLID=53544b47
# net.ifnames=0: the first NIC is eth0 whatever its PCI slot, as on Azure
# (whose NICs are not PCI devices); the waagent flavor's ifupdown file names
# it. systemd.show_status: the boot's progress on the serial console, as in
# Debian's Azure images.
CMDLINE="root=LABEL=$ROOT_LABEL ro console=ttyS0,115200 net.ifnames=0 systemd.show_status=1 no_timer_check"

usage() {
	cat <<EOF
usage: $0 [--out DIR] [--force]

  --out DIR   where to write ${FLAVORS[*]/%/.raw} (default $HERE/out)
  --force     build even if DIR already holds images of the same inputs

Downloaded packages are kept in \$STOCKGUEST_CACHE (default
\${XDG_CACHE_HOME:-\$HOME/.cache}/hangar/stockguest), with the images of the
last builds keyed by a hash of this script, ../lib.sh and flavors/: a clean
checkout with unchanged inputs copies them instead of building again.
EOF
}

OUT=$HERE/out
force=0
while [ $# -gt 0 ]; do
	case "$1" in
	--out)
		[ $# -ge 2 ] || die "--out needs a directory"
		OUT=$2
		shift 2
		;;
	--force)
		force=1
		shift
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
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE=${STOCKGUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hangar/stockguest}
mkdir -p "$CACHE/archives" "$CACHE/debs" "$CACHE/images"
DEB_DIR=$CACHE/debs

# ---------------------------------------------------------------------------
# Up to date? The inputs are this script, lib.sh and the flavor files (the
# package versions are whatever the mirror has: --force to pick up updates).
# ---------------------------------------------------------------------------
inputs_hash() {
	(
		cd "$HERE"
		find build.sh ../lib.sh flavors \( -type f -o -type l \) | LC_ALL=C sort | while read -r f; do
			printf '%s %s\n' "$f" "$(stat -c %a "$f")"
			if [ -L "$f" ]; then readlink "$f"; else sha256sum <"$f"; fi
		done
	) | sha256sum | cut -c1-16
}
HASH=$(inputs_hash)
have_all() { # have_all DIR: every flavor's image and the stamp of HASH
	local f
	[ "$(cat "$1/stamp" 2>/dev/null)" = "$HASH" ] || return 1
	for f in "${FLAVORS[@]}"; do [ -f "$1/$f.raw" ] || return 1; done
}
if [ "$force" = 0 ] && have_all "$OUT"; then
	log "up to date ($OUT, inputs $HASH); --force to rebuild"
	exit 0
fi
if [ "$force" = 0 ] && have_all "$CACHE/images/$HASH"; then
	log "copying the images of inputs $HASH from $CACHE/images"
	for f in "${FLAVORS[@]}"; do
		cp --sparse=always "$CACHE/images/$HASH/$f.raw" "$OUT/$f.raw.tmp"
		mv -f "$OUT/$f.raw.tmp" "$OUT/$f.raw"
	done
	echo "$HASH" >"$OUT/stamp"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap --mode=root chroots into the new root (make stockguest and CI run as root)"
for tool in mmdebstrap sfdisk mkfs.ext4 e2fsck mkfs.vfat mcopy syslinux objcopy objdump dpkg-deb apt-get; do
	command -v "$tool" >/dev/null || die "missing host tool $tool (scripts/deps.sh test installs them)"
done
sources=/etc/apt/sources.list.d/debian.sources
if [ ! -f "$sources" ]; then
	# Older hosts: one-line sources; mmdebstrap takes the file as is.
	sources=/etc/apt/sources.list
	[ -f "$sources" ] || die "no Debian apt sources on this host (/etc/apt/sources.list.d/debian.sources)"
fi

start=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hangar-stockguest.XXXXXX")
cleanup() {
	if [ "${KEEP_WORK:-}" = 1 ]; then
		log "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# The root, once. Downloaded .debs are synced in from and out to the cache, so
# a second build downloads only what changed on the mirror. eatmydata spares
# dpkg's thousands of fsyncs. No documentation, no man pages, no locales
# (path-exclude stays in the image, so later installs stay small too).
# ---------------------------------------------------------------------------
BASE=$WORK/base
hooks=()
[ -d /usr/share/mmdebstrap/hooks/eatmydata ] && command -v eatmydata >/dev/null &&
	hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata)
log "mmdebstrap $SUITE (minbase + ${#PACKAGES[@]} packages), apt sources from $sources"
# The system's PATH only: mmdebstrap's filters are "#!/usr/bin/env python3"
# scripts run once per package, and a python of the user's (pyenv shims)
# costs seconds each there.
if ! PATH=/usr/sbin:/usr/bin:/sbin:/bin mmdebstrap --mode=root --variant=minbase "${hooks[@]}" \
	--include="$(
		IFS=,
		echo "${PACKAGES[*]}"
	)" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--skip=download/empty --skip=essential/unlink \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in $CACHE/archives /var/cache/apt/archives/" \
	--customize-hook="sync-out /var/cache/apt/archives $CACHE/archives" \
	"$SUITE" "$BASE" "$sources" 2>&1 | sed 's/^/  mmdebstrap: /' >&2; then
	die "mmdebstrap failed (its output is above)"
fi
log "root built in $((SECONDS - start)) s"

# A generalized disk: no host keys (cloud-init or waagent make new ones on
# the first boot), systemd's "first boot" machine-id (what cloud-init clean
# --machine-id writes), no host name of the build host, no leftovers.
rm -f "$BASE"/etc/ssh/ssh_host_*
echo uninitialized >"$BASE/etc/machine-id"
rm -f "$BASE/var/lib/dbus/machine-id"
echo localhost >"$BASE/etc/hostname"
cat >"$BASE/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
rm -f "$BASE/etc/resolv.conf"
cat >"$BASE/etc/fstab" <<EOF
LABEL=$ROOT_LABEL / ext4 rw,discard,errors=remount-ro 0 1
EOF
rm -rf "$BASE"/var/cache/apt/*.bin "$BASE"/var/lib/apt/lists/* "$BASE"/tmp/* "$BASE"/var/tmp/*
find "$BASE/var/log" -type f -exec truncate -s 0 {} +

# The kernel and the initramfs that initramfs-tools made inside the root.
VMLINUZ=$(find "$BASE/boot" -name 'vmlinuz-*' | sort -V | tail -n 1)
[ -n "$VMLINUZ" ] || die "no kernel in the root's /boot"
KVER=${VMLINUZ##*/vmlinuz-}
INITRD=$BASE/boot/initrd.img-$KVER
[ -f "$INITRD" ] || die "no $INITRD: initramfs-tools did not run"
log "kernel $KVER, initrd $(($(stat -c %s "$INITRD") >> 20)) MiB"

# ---------------------------------------------------------------------------
# ESP (the same for every flavor): syslinux + kernel + initrd for BIOS, the
# unified kernel image for UEFI. The stub comes from systemd-boot-efi.
# ---------------------------------------------------------------------------
stub_deb=$(get_deb 'systemd-boot-efi_*.deb' systemd-boot-efi)
dpkg-deb -x "$stub_deb" "$WORK/stub"
STUB=$WORK/stub/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -f "$STUB" ] || die "no $STUB in $(basename "$stub_deb")"
UKI=$WORK/BOOTX64.EFI
make_uki "$STUB" "$BASE/etc/os-release" "$CMDLINE" "$INITRD" "$VMLINUZ" "$UKI"
MiB=$((1024 * 1024))
esp_mib=$((($(stat -c %s "$VMLINUZ") + $(stat -c %s "$INITRD") + $(stat -c %s "$UKI") + MiB - 1) / MiB + 4))
[ "$esp_mib" -ge "$ESP_MIB_MIN" ] || esp_mib=$ESP_MIB_MIN
ESP=$WORK/esp.img
make_esp "$ESP" "$esp_mib" $((MiB / 512)) "$ESP_VOLID" "$CMDLINE" "$VMLINUZ" "$INITRD" "$UKI"
root_mib=$((DISK_MIB - 2 - esp_mib))

# ---------------------------------------------------------------------------
# The flavors: a copy of the root, the flavor's files on top, its waagent.conf
# settings, an ext4 made from the tree (mkfs.ext4 -d keeps owners, modes and
# hard links), the disk.
# ---------------------------------------------------------------------------
overlay() { # overlay DIR ROOT: the files of DIR into ROOT, owned by root
	[ -d "$1" ] || return 0
	tar -C "$1" --owner=0 --group=0 --numeric-owner -cf - . | tar -C "$2" -xpf -
}
waagent_set() { # waagent_set ROOT KEY=VALUE
	local conf=$1/etc/waagent.conf key=${2%%=*}
	grep -q "^$key=" "$conf" || die "$conf has no $key= line to set"
	sed -i "s|^$key=.*|$2|" "$conf"
}
for flavor in "${FLAVORS[@]}"; do
	t=$SECONDS
	tree=$WORK/$flavor
	cp -a "$BASE" "$tree"
	overlay "$HERE/flavors/common" "$tree"
	overlay "$HERE/flavors/$flavor" "$tree"
	for kv in ${FLAVOR_WAAGENT[$flavor]}; do waagent_set "$tree" "$kv"; done
	rootimg=$WORK/$flavor.ext4
	truncate -s $((root_mib * MiB)) "$rootimg"
	mkfs.ext4 -q -F -L "$ROOT_LABEL" -E root_owner=0:0 -d "$tree" "$rootimg"
	e2fsck -fn "$rootimg" >"$WORK/e2fsck.log" 2>&1 || die "$flavor: root fs check failed: $(cat "$WORK/e2fsck.log")"
	rm -rf "$tree"
	gpt_disk "$WORK/$flavor.raw" "$DISK_MIB" "$ESP" "$esp_mib" "$rootimg" "$ROOT_NAME" \
		"$DISK_GUID" "$ESP_GUID" "$ROOT_PART_GUID"
	rm -f "$rootimg"
	log "$flavor: $(($(du -k "$WORK/$flavor.raw" | cut -f1) / 1024)) MiB used of $DISK_MIB MiB in $((SECONDS - t)) s"
done

# Publish: the cache first (only the newest two input hashes are kept), then
# the output directory, each image renamed into place.
mkdir -p "$CACHE/images/$HASH"
for flavor in "${FLAVORS[@]}"; do
	cp --sparse=always "$WORK/$flavor.raw" "$CACHE/images/$HASH/$flavor.raw"
	mv -f "$WORK/$flavor.raw" "$OUT/$flavor.raw.tmp"
	mv -f "$OUT/$flavor.raw.tmp" "$OUT/$flavor.raw"
done
echo "$HASH" >"$CACHE/images/$HASH/stamp"
echo "$HASH" >"$OUT/stamp"
# shellcheck disable=SC2012 # names are our own hex hashes
ls -1t "$CACHE/images" | tail -n +3 | while read -r old; do rm -rf "${CACHE:?}/images/$old"; done
log "wrote ${FLAVORS[*]/%/.raw} to $OUT (kernel $KVER, inputs $HASH) in $((SECONDS - start)) s"
