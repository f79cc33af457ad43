#!/bin/sh
# antispam's start-up step (services/antispam.toml, pre_start): runs before rspamd starts and again
# on every refresh, before rspamd reloads.
set -eu

# rspamd resolves the services it talks to when it reads its configuration, and without the
# resolver's address it has no DNS at all. Wait (a minute at most) until Docker's DNS knows them,
# so that an antispam started before its neighbours does not start without them.
waited=0
for name in resolver redis; do
  until getent hosts "$name" >/dev/null 2>&1; do
    if [ "$waited" -ge 60 ]; then
      echo "pre-start.sh: $name does not resolve; rspamd starts without it" >&2
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
done

# Mailu's overrides folder (mailu-overrides/rspamd/), laid out as Mailu's antispam container saw it:
# every file under /overrides, where Mailu's own local.d files include (merge) the one named like
# them and where override files may point at each other (e.g. a map); a file whose name is none of
# Mailu's is also copied into local.d. The previous copies are removed first, so a deleted override
# disappears.
rm -rf /overrides
mkdir -p /overrides
copies=/etc/rspamd/local.d/.mailu-overrides
if [ -f "$copies" ]; then
  while IFS= read -r name; do
    case "$name" in
      antivirus.conf|arc.conf|classifier-bayes.conf|composites.conf|dkim_signing.conf|dmarc.conf|external_services.conf|external_services_group.conf|force_actions.conf|fuzzy_check.conf|headers_group.conf|history_redis.conf|metrics.conf|milter_headers.conf|multimap.conf|whitelist.conf|forbidden_file_extension.map|options.inc|redis.conf|logging.inc|worker-controller.inc|worker-fuzzy.inc|worker-normal.inc|worker-proxy.inc|local_subnet.map|local_domains.map) ;;
      *) rm -f "/etc/rspamd/local.d/$name" ;;
    esac
  done < "$copies"
fi
: > "$copies"
put() {
  mkdir -p "$(dirname "$1")"
  printf '%s' "$2" > "$1"
}
