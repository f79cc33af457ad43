# report-spam.sieve: imapsieve, when a message is copied or appended into Junk. Rendered by
# mailu-git, do not edit. Teaches rspamd (see rspamd-learn) and marks the message read, as Mailu.
require ["vnd.dovecot.execute", "imap4flags"];

setflag "\\Seen";
execute :pipe "rspamd-learn" "spam";
