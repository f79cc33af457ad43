#!/bin/sh
# antispam's reload command (services/antispam.toml): SIGHUP makes rspamd's main process re-read its
# configuration and replace its workers; it keeps the old ones if the new configuration is broken.
# `rspamd -f` writes no pid file, so look for the main process by its title, skipping a child that
# is being forked (it briefly carries its parent's title): the main process's parent is not rspamd.
set -eu
main=$(busybox ps -o pid,ppid,args | awk '
  $3 == "rspamd:" { parent[$1] = $2; if ($4 == "main") candidate[$1] = 1 }
  END { for (pid in candidate) if (!(parent[pid] in parent)) print pid }
')
if [ -z "$main" ]; then
  echo "reload.sh: rspamd's main process is not running" >&2
  exit 1
fi
kill -HUP "$main"
