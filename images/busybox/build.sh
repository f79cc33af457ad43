#!/bin/sh
# Builds mailu-git/busybox:<key>, a tiny image of Debian's static busybox (`busybox-static`): /bin/busybox,
# a link per applet, and an /etc/passwd and /etc/group with root and the `mail` ids of Debian (8).
# The entrypoint's tests run in it, so the script is checked on busybox's sh, wget, tar and
# coreutils as well as on the bookworm image's dash and GNU tools.
#
# <key> is the first 12 hex digits of the SHA-256 of the busybox binary and this script: an
# existing image of that key is reused (one `docker image inspect`). Also tags :latest. Prints the
# image on stdout. Exit status 3: a prerequisite is missing (root, docker, busybox-static).
set -eu
me=images/busybox/build.sh
bb=/bin/busybox

missing() {
    echo "$me: $*" >&2
    exit 3
}

[ "$(id -u)" = 0 ] || missing "must run as root (it talks to the Docker engine)"
command -v docker >/dev/null 2>&1 || missing "docker is not installed"
docker info >/dev/null 2>&1 || missing "the Docker engine cannot be reached"
if [ ! -x "$bb" ] || ! "$bb" --list | grep -qx wget; then
    missing "$bb is missing or has no wget (apt-get install busybox-static)"
fi
"$bb" --help 2>&1 | head -n 1 | grep -q BusyBox || missing "$bb is not busybox"
ldd "$bb" >/dev/null 2>&1 && missing "$bb is linked dynamically; install busybox-static"

key=$(cat "$bb" "$0" | sha256sum | cut -c 1-12)
image="mailu-git/busybox:$key"
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$me: $image exists" >&2
    docker tag "$image" mailu-git/busybox:latest
    echo "$image"
    exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/lib"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nmail:x:8:8:mail:/var/mail:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nmail:x:8:\n' >"$root/etc/group"
tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' \
    -m "mailu-git busybox test image ($key)" - "$image" >/dev/null
docker tag "$image" mailu-git/busybox:latest
echo "$me: built $image" >&2
echo "$image"
