# report-ham.sieve: imapsieve, when a message is copied out of Junk. Rendered by mailu-git, do not
# edit. A message thrown into Trash is not ham; anywhere else it is.
require ["vnd.dovecot.execute", "environment", "variables", "imapsieve"];

if environment :matches "imap.mailbox" "*" {
  set "mailbox" "${1}";
}
if string :is "${mailbox}" "Trash" {
  stop;
}
execute :pipe "rspamd-learn" "ham";
