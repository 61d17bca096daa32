#!/bin/sh
# Set every parameter of deploy/postfix/main.cf in a Postfix main.cf with `postconf -e`,
# which replaces a parameter already there. (Appending the file instead would set some
# twice: Debian's own main.cf already sets myhostname, and Postfix then warns
# "overriding earlier entry".) Edit the host names in main.cf first, or afterwards with
# `postconf -e`.
#
# Usage: deploy/postfix/apply.sh [CONFIG_DIR]      (CONFIG_DIR defaults to /etc/postfix)
set -eu
here=$(dirname "$0")
dir=${1:-/etc/postfix}
# one setting per line: continuation lines (starting with white space) joined on, comments dropped
awk '/^[ \t]/ { line = line " " $0; next } { if (line != "") print line; line = $0 }
     END { if (line != "") print line }' "$here/main.cf" \
  | sed -e 's/[ \t][ \t]*/ /g' | grep -v '^#' | grep '=' \
  | while IFS= read -r setting; do postconf -c "$dir" -e "$setting"; done
