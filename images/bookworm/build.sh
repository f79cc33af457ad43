#!/bin/sh
# Builds mailu-git's one Debian bookworm image from Debian's own packages: debootstrap a minbase root,
# fix the daemons' uids/gids, install the list in `packages`, strip it, and `docker import` it as
# mailu-git/bookworm:<key>, where <key> hashes `packages` and this script (the cache key), also tagged
# :latest. An existing <key> image is reused at once unless --force is given. Needs root, debootstrap,
# docker. Progress goes to stderr; the only stdout line is the image reference, for callers (tests).
# Exit status: 0 the image exists, 1 the build failed, 2 bad usage, 3 a prerequisite is missing (not
# root, no debootstrap, no docker): the tests skip on 3 unless MAILU_GIT_REQUIRE_ALL=1.
set -eu

me=build.sh
say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
missing() {
  say "error: $*"
  exit 3
}

here=$(cd "$(dirname "$0")" && pwd)
script=$here/build.sh
list=$here/packages
repo=mailu-git/bookworm
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h | --help)
      echo "usage: $me [--force]   (build the image unless mailu-git/bookworm:<key> exists)"
      exit 0
      ;;
    *)
      say "error: unknown argument '$arg' (usage: $me [--force])"
      exit 2
      ;;
  esac
done

[ "$(id -u)" -eq 0 ] || missing "must run as root: debootstrap, chroot and chown need it"
command -v docker >/dev/null 2>&1 || missing "docker is missing: the image is imported into a Docker engine"
docker info >/dev/null 2>&1 || missing "docker is unreachable: 'docker info' failed (is the engine running?)"
[ -r "$list" ] || die "cannot read the package list $list"

# Every line of `packages` is a comment, blank, or one Debian package name: a typo fails here, naming
# the line, instead of deep inside apt.
packages=
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  name=$(printf '%s' "${line%%#*}" | tr -d '\r' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
  [ -n "$name" ] || continue
  case $name in
    [a-z0-9]*) ;;
    *) die "$list line $n: '$line' is not a Debian package name" ;;
  esac
  case $name in
    *[!a-z0-9.+-]*) die "$list line $n: '$line' is not one Debian package name" ;;
  esac
  packages="$packages $name"
done <"$list"
[ -n "$packages" ] || die "$list lists no package"

key=$(cat "$list" "$script" | sha256sum | cut -c1-12)
tag=$repo:$key

# Tests of several processes (and CI) may call this at once: one builds, the others wait and then
# find the image in the cache.
lock=/run/lock/mailu-git-bookworm.lock
mkdir -p /run/lock
exec 9>"$lock"
if ! flock -n 9; then
  say "another build holds $lock: waiting for it"
  flock 9
fi

if [ "$force" -eq 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  docker tag "$tag" "$repo:latest"
  say "$tag exists (cache key of packages + build.sh): nothing to build (--force rebuilds)"
  echo "$tag"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 || missing "debootstrap is missing (apt-get install debootstrap)"
work=$(mktemp -d /var/tmp/mailu-git-bookworm.XXXXXX)
root=$work/rootfs
# The root is thrown away once imported: build it in memory (about 0.7 GiB at its peak) when we may,
# so dpkg's fsync per file and removing it afterwards cost nothing on a disk shared with others.
if mount -t tmpfs -o size=3g,mode=0755 mailu-git-bookworm "$work" 2>/dev/null; then
  where="memory (tmpfs)"
else
  where="disk ($work)"
fi
cleanup() {
  for mnt in "$root/proc" "$root/sys" "$work"; do
    if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" || umount -l "$mnt" || true; fi
  done
  # --one-file-system: never follow a mount that is still there into the host.
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in the new root with a clean environment and, in its own UTS namespace, the host
# name "localhost": package scripts that record the host name must not bake in the build machine's.
in_root() {
  unshare --uts -- chroot "$root" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    /bin/sh -c 'hostname localhost && exec "$@"' in_root "$@"
}

say "building $tag in $where"
started=$(date +%s)

# --- debootstrap -----------------------------------------------------------------------------------
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >&2; then
  # Its log is removed with the root at exit: show its end first.
  tail -n 30 "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
  die "debootstrap failed (its messages and the end of its log are above)"
fi
after_debootstrap=$(date +%s)

# --- packages --------------------------------------------------------------------------------------
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
# No documentation, manuals or translations, now or in images built on this one; copyrights stay.
cat >"$root/etc/dpkg/dpkg.cfg.d/mailu-git-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/apt.conf.d/mailu-git" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
# What debootstrap unpacked before the exclusions existed.
find "$root/usr/share/doc" ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

# No package may start a daemon while the image is built (invoke-rc.d asks this script).
printf '#!/bin/sh\n# mailu-git image build: no daemon starts during the build.\nexit 101\n' \
  >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"

# Fixed ids, created before the packages so their maintainer scripts (adduser --system) reuse them:
# files shared between containers (passwd-files, maildirs, sockets) need the same numbers in every
# container. Keep in step with the table in README.md (a test compares them).
# name uid gid home
while read -r name uid gid home; do
  in_root groupadd --system --gid "$gid" "$name"
  in_root useradd --system --uid "$uid" --gid "$gid" --home-dir "$home" --no-create-home \
    --shell /usr/sbin/nologin "$name"
done <<'EOF'
postfix 101 101 /var/spool/postfix
dovecot 103 103 /usr/lib/dovecot
dovenull 104 104 /nonexistent
_rspamd 105 105 /var/lib/rspamd
unbound 106 106 /var/lib/unbound
fetchmail 110 110 /var/lib/fetchmail
radicale 111 111 /var/lib/radicale
EOF
in_root groupadd --system --gid 102 postdrop
# vmail owns every mailbox; 5000 is outside the system range on purpose (dovecot's first_valid_uid).
in_root groupadd --gid 5000 vmail
in_root useradd --uid 5000 --gid 5000 --home-dir /mail --no-create-home --shell /usr/sbin/nologin vmail
mkdir -p "$root/mail"
chown 5000:5000 "$root/mail"
chmod 0750 "$root/mail"

# postfix: no Debian-generated main.cf (it would name the build host and the snakeoil certificate);
# the rendered main.cf is the only one.
echo 'postfix postfix/main_mailer_type select No configuration' | in_root debconf-set-selections

in_root apt-get update -q >&2
in_root apt-get -y -q upgrade >&2
# shellcheck disable=SC2086 # one word per package
in_root apt-get install -y -q --no-install-recommends $packages >&2 ||
  die "installing the packages of $list failed (messages above)"

# Debian's master.cf (services and their defaults) is shared data, not site configuration: keep it, so
# a rendered main.cf alone passes `postfix check`. main.cf is a placeholder without settings (postconf
# and postmap refuse to run without one) until the rendered one is copied over it.
if [ ! -e "$root/etc/postfix/master.cf" ]; then
  cp "$root/usr/share/postfix/master.cf.dist" "$root/etc/postfix/master.cf"
fi
if [ ! -e "$root/etc/postfix/main.cf" ]; then
  printf '%s\n' '# mailu-git image: a placeholder. The rendered main.cf replaces this file.' \
    'compatibility_level = 3.6' >"$root/etc/postfix/main.cf"
fi

# /etc/mtab: doveconf and others read it; a minbase root has none.
ln -sf /proc/self/mounts "$root/etc/mtab"

# The snakeoil pair is made once here and shared by every container of the image: nothing may use
# it. Links to it (dovecot's private/dovecot.pem, the hash link in /etc/ssl/certs) go too.
rm -f "$root/etc/ssl/certs/ssl-cert-snakeoil.pem" "$root/etc/ssl/private/ssl-cert-snakeoil.key"
find "$root/etc" -type l | while read -r link; do
  case $(readlink "$link") in
    *ssl-cert-snakeoil*) rm -f "$link" ;;
  esac
done
rm -f "$root/etc/nginx/snippets/snakeoil.conf"
if keys=$(grep -rl -e 'PRIVATE KEY-----' "$root/etc" "$root/var/lib" 2>/dev/null) && [ -n "$keys" ]; then
  die "private keys made during the build would be shared by every container: $keys"
fi

umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"
in_root apt-get clean
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/debconf/"*-old \
  "$root/var/lib/dpkg/"*-old "$root/var/log/"*.log "$root/var/log/apt/"* "$root/tmp/"* \
  "$root/var/tmp/"* "$root/root/.cache"
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
# Docker provides these per container.
: >"$root/etc/resolv.conf"
echo localhost >"$root/etc/hostname"
after_packages=$(date +%s)

# --- import ----------------------------------------------------------------------------------------
tar --numeric-owner -C "$root" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -cf - . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL org.mailu-git.image.key=$key" \
    --message "mailu-git bookworm image, key $key" \
    - "$tag" >/dev/null || die "docker import of $tag failed"
docker tag "$tag" "$repo:latest"
after_import=$(date +%s)

# Removing the root takes seconds when it is on a busy disk: count it.
cleanup
done_at=$(date +%s)

size=$(docker image inspect -f '{{.Size}}' "$tag")
say "built $tag (also $repo:latest), $((size / 1048576)) MiB"
say "phase debootstrap took $((after_debootstrap - started))s"
say "phase packages took $((after_packages - after_debootstrap))s"
say "phase import took $((after_import - after_packages))s"
say "phase cleanup took $((done_at - after_import))s (total $((done_at - started))s)"
echo "$tag"
