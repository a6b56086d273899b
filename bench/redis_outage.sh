#!/usr/bin/env bash
# Stop Redis for a minute around a booking and check that its email still goes out, exactly once.
# Uses its own Redis on port 6380 and a temporary SQLite file; real worker and beat processes.
# Usage: bash bench/redis_outage.sh   (about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
PORT=6380
export DATABASE_URL="sqlite:///$WORK/db.sqlite3" REDIS_URL="redis://127.0.0.1:$PORT/0"
export EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend EMAIL_FILE_PATH="$WORK/mail"
export CLOCK_NOW="2026-12-01T09:00:00+09:00"
export SECRET_KEY="drill-only-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" ALLOWED_HOSTS=127.0.0.1
mkdir -p "$WORK/mail"
cleanup() { kill "${WORKER:-}" "${BEAT:-}" 2>/dev/null || true; redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; }
trap cleanup EXIT

redis-server --daemonize yes --bind 127.0.0.1 --port $PORT --save "" --appendonly no >/dev/null
$PY manage.py migrate -v0 && $PY manage.py load_nagano >/dev/null && $PY manage.py generate_slots --days 20 >/dev/null
$PY -m celery -A scheduler worker --pool=solo -l warning >"$WORK/worker.log" 2>&1 & WORKER=$!
$PY -m celery -A scheduler beat -l warning -s "$WORK/beat-schedule" >"$WORK/beat.log" 2>&1 & BEAT=$!
sleep 8

echo "outage: stopping Redis"
redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true
$PY manage.py shell -v 0 -c "
import time
from datetime import date
from bookings import services
from bookings.contact import contact_clean
from bookings.models import Notification
from scheduler.clock import at_jst, now
from venues.models import Procedure, Venue
started = time.perf_counter()
created = services.booking_create(
    venue=Venue.objects.get(code='hokushin-centre'), procedure=Procedure.objects.get(code='erase'),
    start=at_jst(date(2026, 12, 14), 10), contact=contact_clean(name='停電 太郎', email='outage@example.jp'),
    answers={}, now=now())
print(f'outage: booked {created.booking.reference} in {(time.perf_counter() - started) * 1000:.0f} ms while Redis was down;',
      'outbox:', list(Notification.objects.values_list('state', flat=True)))
" 2>/dev/null
echo "outage: Redis stays down for 60 s"; sleep 60
redis-server --daemonize yes --bind 127.0.0.1 --port $PORT --save "" --appendonly no >/dev/null
echo "outage: Redis is back; waiting for the sweep (at most 150 s)"
for _ in $(seq 1 150); do
  [ -n "$(ls -A "$WORK/mail")" ] && break
  sleep 1
done
sleep 5
$PY manage.py shell -v 0 -c "
from bookings.models import Notification
print('outage: outbox after recovery:', list(Notification.objects.values_list('state', flat=True)))
" 2>/dev/null
COUNT=$(cat "$WORK"/mail/* 2>/dev/null | grep -c '^Subject:' || true)
echo "outage: emails written: $COUNT"
[ "$COUNT" = "1" ] && echo "outage: OK, nothing lost, nothing sent twice" || { echo "outage: FAILED"; exit 1; }
