#!/usr/bin/env bash
# Build the test-bed base image: a minimal Debian bookworm that boots systemd as PID 1
# and is reachable over SSH. It deliberately contains NO SecretFlow, Ray or venv:
# installing those is the roles' job, and the tests must prove they do it.
#
# The image is tagged with a hash of this script and the CA bundle it embeds, so it
# is rebuilt only when its inputs change. Usage: build.sh [--print-name]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages="python3,python3-venv,openssh-server,iproute2,nftables,sudo,procps,systemd,systemd-sysv,dbus,ca-certificates,netcat-openbsd,iputils-ping"
# The controller's CA bundle goes into the image so that hosts can reach the package
# index through the same TLS-intercepting proxies the controller trusts.
ca_bundle=${SF_TESTBED_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
suite=bookworm
mirror=${SF_TESTBED_DEBIAN_MIRROR:-http://deb.debian.org/debian}

tag=$( (cat "$0"; echo "$packages $suite $mirror"; cat "$ca_bundle") | sha256sum | cut -c1-12)
name="localhost/sfdeploy-testbed:$tag"

if [ "${1:-}" = "--print-name" ]; then echo "$name"; exit 0; fi

if podman image exists "$name"; then
  echo "$name"
  exit 0
fi

root=$(mktemp -d /var/tmp/sfdeploy-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2

cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
# systemd in a container: no getty on a console that does not exist, no udev trigger loops.
chroot "$root" systemctl mask getty@tty1.service serial-getty@console.service \
  systemd-udevd.service systemd-udev-trigger.service >/dev/null 2>&1 || true
chroot "$root" systemctl enable ssh.service >/dev/null 2>&1
# sshd host keys are generated per container at first boot, not baked into the image.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat > "$root/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
echo "" > "$root/etc/machine-id"
apt_clean() { rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*; }
apt_clean

tar -C "$root" -c . | podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$name" >&2
echo "$name"
