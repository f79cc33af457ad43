# before.sieve: run at delivery for every user, before the user's autoresponder and own scripts.
# Rendered by mailu-git, do not edit. What Mailu's admin rendered per user (default.sieve) comes
# from the user's passwd-file line instead: ${env.vnd.dovecot.config.spam_*} are the plugin
# settings sieve_env_spam_* that line sets.
require ["variables", "vnd.dovecot.environment", "fileinto", "mailbox", "imap4flags",
         "spamtestplus", "relational", "comparator-i;ascii-numeric", "editheader", "index"];

# As Mailu: Delivered-To names the address the sender wrote to (an alias, say), which smtp's
# Received header records, rather than the mailbox it reached.
if header :index 2 :matches "Received" "from * by * for <*>; *" {
  deleteheader "Delivered-To";
  addheader "Delivered-To" "<${3}>";
}

# Spam (rspamd's score in percent of its reject score) goes to Junk; stop also skips the
# autoresponder, so spam gets no reply.
if string :is "${env.vnd.dovecot.config.spam_junk}" "yes" {
  if spamtest :percent :value "gt" :comparator "i;ascii-numeric" "${env.vnd.dovecot.config.spam_threshold}" {
    if string :is "${env.vnd.dovecot.config.spam_seen}" "yes" {
      setflag "\\Seen";
    }
    fileinto :create "Junk";
    stop;
  }
}
