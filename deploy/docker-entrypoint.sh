#!/bin/sh
# The container's entry point: run one process of the platform, named by the first argument.
# The same commands as the systemd units in deploy/systemd/ (and runplatform's list).
set -eu
cd /app
process="${1:-web}"
[ $# -gt 0 ] && shift
case "$process" in
  setup)          # once per start of the stack: idempotent
    python manage.py migrate --no-input
    python manage.py dkimkey
    exec python manage.py collectstatic --no-input --verbosity 0 ;;
  web)            exec gunicorn -c python:groups.gunicorn_conf groups.wsgi:application "$@" ;;
  smtpd)          exec python -m smtpd "$@" ;;
  messageserver)  exec python -m messageserver "$@" ;;
  karl)           exec python -m karl "$@" ;;
  errord)         exec python -m errord "$@" ;;
  scheduler)      exec python -m cronjobs.scheduler "$@" ;;
  manage)         exec python manage.py "$@" ;;
  *)  echo "unknown process '$process': use setup, web, smtpd, messageserver, karl, errord, scheduler or manage" >&2
      exit 64 ;;
esac
