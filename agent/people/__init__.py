"""People acting as themselves: local accounts (Argon2id), API tokens, the office's directory (LDAP), and
the one place that turns a password, a token or an OS user into an Identity (`auth.Authenticator`)."""
