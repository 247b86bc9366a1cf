#!/usr/bin/env bash
# deps.sh [test|run]: installs on Debian what the tests (default) or running VMs
# need, or says exactly what to install. For "run" a missing package is only a
# warning: images, disks and the catalog work without QEMU.
#   qemu-utils            qemu-img: the independent judge of every disk file
#   qemu-system-x86 ovmf  real VMs (BIOS and UEFI)
#   fdisk e2fsprogs dosfstools mtools syslinux syslinux-common binutils cpio
#                         the test guest image build (images/testimage/build.sh)
#                         and the test disks of offline generalize (mkfs.ext4, debugfs)
#   xfsprogs btrfs-progs  XFS and Btrfs test disks for offline generalize (the
#                         appliance carries its own copies, from Debian packages)
#   genisoimage           isoinfo, to check provisioning media
#   mmdebstrap eatmydata  the stock test guests (images/stockguest/build.sh): a Debian
#                         root from packages; eatmydata spares dpkg's fsyncs there
#   postgresql            a throwaway PostgreSQL server for the metadata-store tests
#   sqlite3               the online backup docs/OPERATIONS.md describes, run by its test
#   iproute2              ip netns: the network tests' stand-in for the outside world
#   qemu-guest-agent      qemu-ga, the real peer of the guest-agent client's tests
#                         (internal/qga, run-command without hangar-agent)
#   python3-yaml python3-requests python3-configobj python3-distro python3-six
#   python3-pkg-resources openssl
#                         what the client code of cloud-init and waagent imports and runs
#   chromium              the headless browser the web console's tests drive (chromedp,
#                         e2e/console_test.go)
#   prometheus            promtool, which checks the /metrics a real server serves
#                         (e2e/operations_test.go); its daemon is never started
# and, for the tests, the client code of Debian's cloud-init and waagent packages, unpacked
# (not installed: their services must never run on this host) into
# $HANGAR_AZURE_CLIENTS (default /usr/local/lib/hangar/azure-clients), which
# internal/fabric's and internal/provision's tests run against Hangar's Azure platform;
# and versitygw (the Versity S3 Gateway, Apache-2.0) built from its Go
# module into GOPATH/bin: the real S3-compatible server the object-store tests start.
set -euo pipefail

VERSITYGW=github.com/versity/versitygw/cmd/versitygw@v1.8.0
install_versitygw() {
	local bin
	bin="$(go env GOPATH)/bin/versitygw"
	command -v versitygw >/dev/null 2>&1 || [ -x "$bin" ] && return 0
	echo "building versitygw (the S3 server the tests use) from $VERSITYGW" >&2
	GOBIN="$(go env GOPATH)/bin" go install "$VERSITYGW"
}

# QEMU (VMs and the appliance) drops to this system user when hangar serve runs
# as root; made here when missing.
qemu_user() {
	if [ "$(id -u)" = 0 ] && ! id hangar-qemu >/dev/null 2>&1 && command -v useradd >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hangar-qemu
	fi
	return 0
}

AZURE_CLIENTS=${HANGAR_AZURE_CLIENTS:-/usr/local/lib/hangar/azure-clients}
install_azure_clients() {
	local py=$AZURE_CLIENTS/usr/lib/python3/dist-packages tmp deb
	[ -f "$py/cloudinit/sources/DataSourceAzure.py" ] && [ -f "$py/azurelinuxagent/common/protocol/wire.py" ] && return 0
	echo "unpacking cloud-init and waagent (their client code, for the tests) into $AZURE_CLIENTS" >&2
	tmp=$(mktemp -d)
	chmod 755 "$tmp" # apt-get download writes as the _apt user
	(cd "$tmp" && apt-get download -qq cloud-init waagent >/dev/null)
	mkdir -p "$AZURE_CLIENTS"
	for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$AZURE_CLIENTS"; done
	rm -rf "$tmp"
}

mode=${1:-test}
qemu_user
tools=(qemu-img:qemu-utils qemu-system-x86_64:qemu-system-x86 /usr/share/ovmf/OVMF.fd:ovmf)
if [ "$mode" = test ]; then
	tools+=(sfdisk:fdisk debugfs:e2fsprogs mkfs.vfat:dosfstools mcopy:mtools syslinux:syslinux
		/usr/lib/syslinux/mbr/gptmbr.bin:syslinux-common objcopy:binutils cpio:cpio isoinfo:genisoimage
		mkfs.xfs:xfsprogs mkfs.btrfs:btrfs-progs
		'/usr/lib/postgresql/*/bin/initdb:postgresql' ip:iproute2 /usr/sbin/qemu-ga:qemu-guest-agent
		/usr/lib/python3/dist-packages/yaml:python3-yaml /usr/lib/python3/dist-packages/requests:python3-requests
		/usr/lib/python3/dist-packages/configobj:python3-configobj /usr/lib/python3/dist-packages/distro:python3-distro
		/usr/lib/python3/dist-packages/six.py:python3-six /usr/lib/python3/dist-packages/pkg_resources:python3-pkg-resources
		openssl:openssl mmdebstrap:mmdebstrap eatmydata:eatmydata sqlite3:sqlite3 chromium:chromium promtool:prometheus)
fi
need=()
for t in "${tools[@]}"; do
	what=${t%%:*} pkg=${t#*:}
	if [[ $what == /* ]]; then compgen -G "$what" >/dev/null && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
	need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
	if [ "$mode" = test ]; then
		install_versitygw
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then install_azure_clients; fi
	fi
	exit 0
fi
what="the tests"
[ "$mode" = test ] || what="VMs"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing ${need[*]} (needed by $what)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
	# An if, not "&&": as the script's last command, a false test would be its
	# exit status, and make serve would stop after a successful install.
	if [ "$mode" = test ]; then
		install_versitygw
		install_azure_clients
	fi
elif [ "$mode" = run ]; then
	echo "VMs need: ${need[*]}; install with: sudo apt-get install ${need[*]} (images and disks work without them)" >&2
else
	echo "the tests need: ${need[*]}; install with: sudo apt-get install ${need[*]}" >&2
	exit 1
fi
