"""The statistics page of the admin (issue 14, part 3): the figures of `bookings.statistics` as
summary figures, server-drawn SVG charts (no script), a weekday × hour heat table, the venue
ranking for prefecture administrators, and the same figures as CSV (`?format=csv`).

Clerks see their venues (all of theirs, or one); administrators the prefecture or one venue. The
page reads in a fixed number of queries whatever the range (tests/test_statistics.py).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from scheduler import clock, parsing
from venues.admin import day_page_url
from venues.models import Procedure, Venue
from venues.scoping import is_prefecture_admin

from .. import statistics
from ..statistics import Figures, Statistics
from .pages import MAX_EXPORT_DAYS, _cell, no_venue_page, pick_venue, render, require, user_venues

MAX_DAYS = MAX_EXPORT_DAYS  # a year (and a leap day) at most
PERIOD_LABELS = {"day": "日ごと", "week": "週ごと", "month": "月ごと"}
WEEKDAYS = "月火水木金土日"


# --- Figures as shown (the page's tables and the CSV share these) ------------------------------


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def days_of(hours: float | None) -> float | None:
    return None if hours is None else hours / 24


COLUMNS: list[tuple[str, Callable[[Figures], str]]] = [
    ("予約（全件）", lambda f: str(f.bookings)),
    ("オンライン", lambda f: str(f.online)),
    ("職員予約", lambda f: str(f.staff)),
    ("当日受付", lambda f: str(f.walk_in)),
    ("取消（本人）", lambda f: str(f.cancelled_by_resident)),
    ("取消（会場都合）", lambda f: str(f.cancelled_by_venue)),
    ("来庁予定（経過分）", lambda f: str(f.due)),
    ("来庁", lambda f: str(f.came)),
    ("来庁なし", lambda f: str(f.no_shows)),
    ("来庁なし率", lambda f: percent(f.no_show_rate)),
    ("使用席", lambda f: str(f.seats_used)),
    ("提供席", lambda f: str(f.seats_offered)),
    ("席の使用率", lambda f: percent(f.seat_use)),
    ("予約から来庁まで 中央値（日）", lambda f: number(days_of(f.lead_hours.median))),
    ("予約から来庁まで 90%（日）", lambda f: number(days_of(f.lead_hours.p90))),
    ("待ち時間 中央値（分）", lambda f: number(f.waiting_minutes.median)),
    ("待ち時間 90%（分）", lambda f: number(f.waiting_minutes.p90)),
    ("手続時間 中央値（分）", lambda f: number(f.service_minutes.median)),
    ("手続時間 90%（分）", lambda f: number(f.service_minutes.p90)),
]
RANKING_COLUMNS: list[tuple[str, Callable[[Figures], str]]] = [
    ("予約（有効）", lambda f: str(f.kept)),
    ("席の使用率", lambda f: percent(f.seat_use)),
    ("使用席", lambda f: str(f.seats_used)),
    ("提供席", lambda f: str(f.seats_offered)),
    ("来庁なし率", lambda f: percent(f.no_show_rate)),
    ("待ち時間 中央値（分）", lambda f: number(f.waiting_minutes.median)),
]


def period_label(first: date, last: date, period: str) -> str:
    if period == "day":
        return f"{first:%Y-%m-%d}（{WEEKDAYS[first.weekday()]}）"
    if period == "month" and first.day == 1 and (last + timedelta(days=1)).day == 1:
        return f"{first:%Y-%m}"
    return f"{first:%Y-%m-%d}〜{last:%m-%d}" if first.year == last.year else f"{first}〜{last}"


def figure_rows(stats: Statistics) -> list[list[str]]:
    """[label, figure…] for each period, then the totals: the page's table and the CSV's."""
    rows = [
        [period_label(row.first, row.last, stats.period), *(shown(row.figures) for _h, shown in COLUMNS)]
        for row in stats.rows
    ]
    rows.append(["合計", *(shown(stats.totals) for _h, shown in COLUMNS)])
    return rows


def ranking_rows(stats: Statistics) -> list[list[str]]:
    return [
        [str(place), row.venue.name, *(shown(row.figures) for _h, shown in RANKING_COLUMNS)]
        for place, row in enumerate(stats.ranking, start=1)
    ]


# --- Charts: plain SVG drawn here, read without any script --------------------------------------

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 8, 12, 30


def nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2, 4, 6 or 8 times a power of ten, at or above `value` (its quarters,
    where the grid lines go, stay short numbers)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if value <= step * power:
            return step * power
    return 10 * power


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the fill's class (statistics.html's style)
    values: list[float | None]


def bar_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: list[str],
    series: list[Series],
    stacked: bool,
    unit: str = "",
    top: float | None = None,
) -> SafeString:
    """An SVG bar chart (stacked or side by side) that scales to the page's width; every bar has a
    tooltip (<title>), and the chart a title and a description for screen readers."""
    count = max(len(labels), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if stacked:
        highest = max((sum(s.values[i] or 0 for s in series) for i in range(len(labels))), default=0)
    else:
        highest = max((v or 0 for s in series for v in s.values), default=0)
    top = top or nice_ceiling(highest)
    slot = plot_w / count

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * min(value, top) / top

    parts: list[str] = []
    for step in range(5):  # grid lines and their values
        value = top * step / 4
        y = y_of(value)
        shown = f"{value:g}{unit}"
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 4,
                f"{y + 5:.1f}",
                shown,
            )
        )
    every = math.ceil(count / 8)
    for i, label in enumerate(labels):
        x0 = LEFT + slot * i
        if stacked:
            width, base = slot * 0.75, 0.0
            for s in series:
                value = s.values[i] or 0
                if value:
                    y, y_base = y_of(base + value), y_of(base)
                    parts.append(_bar(s, x0 + slot * 0.125, y, width, y_base - y, label, value, unit))
                base += value
        else:
            width = slot * 0.8 / max(len(series), 1)
            for k, s in enumerate(series):
                value = s.values[i]
                if value:
                    y = y_of(value)
                    parts.append(
                        _bar(s, x0 + slot * 0.1 + width * k, y, width, TOP + plot_h - y, label, value, unit)
                    )
        if i % every == 0:
            parts.append(
                format_html(
                    '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x0 + slot / 2:.1f}",
                    HEIGHT - BOTTOM + 20,
                    _short(label),
                )
            )
    parts.append(
        format_html(
            '<line class="base" x1="{}" x2="{}" y1="{}" y2="{}"/>',
            LEFT,
            WIDTH - RIGHT,
            TOP + plot_h,
            TOP + plot_h,
        )
    )
    return format_html(
        '<svg class="st-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
        'preserveAspectRatio="xMidYMid meet"><title id="{}-t">{}</title><desc id="{}-d">{}</desc>{}</svg>',
        WIDTH,
        HEIGHT,
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        desc,
        mark_safe("".join(parts)),  # noqa: S308 - every part was built by format_html
    )


def _bar(
    s: Series, x: float, y: float, width: float, height: float, label: str, value: float, unit: str
) -> str:
    # A year by day draws a thousand bars: one f-string each, with only the texts escaped (the
    # numbers are formatted here); format_html per bar was a fifth of the page's time.
    shown = f"{value:g}" if isinstance(value, int) or float(value).is_integer() else f"{value:.1f}"
    return (
        f'<rect class="{escape(s.css)}" x="{x:.2f}" y="{y:.2f}" width="{max(width, 0.5):.2f}" '
        f'height="{max(height, 0):.2f}"><title>{escape(label)} {escape(s.name)}: {shown}{escape(unit)}'
        "</title></rect>"
    )


def _short(label: str) -> str:
    """An axis label: 12-14 for a day, 2026-12 for a month, the first day of a week."""
    head = label.split("（")[0].split("〜")[0]
    return head[5:] if len(head) == 10 else head


def charts(stats: Statistics) -> list[tuple[SafeString, list[tuple[str, str]]]]:
    """(svg, legend) for bookings by channel, seat use, and waiting and service times."""
    labels = [period_label(row.first, row.last, stats.period) for row in stats.rows]
    figures = [row.figures for row in stats.rows]
    note = "数値は下の表にもあります。"
    by_channel = [
        Series("オンライン", "st-online", [f.online for f in figures]),
        Series("職員予約", "st-staff", [f.staff for f in figures]),
        Series("当日受付", "st-walk", [f.walk_in for f in figures]),
        Series("取消", "st-cancel", [f.cancelled for f in figures]),
    ]
    use = [
        Series(
            "席の使用率",
            "st-use",
            [None if f.seat_use is None else round(100 * f.seat_use, 1) for f in figures],
        )
    ]
    times = [
        Series("待ち時間 中央値", "st-wait", [f.waiting_minutes.median for f in figures]),
        Series("待ち時間 90%", "st-wait90", [f.waiting_minutes.p90 for f in figures]),
        Series("手続時間 中央値", "st-service", [f.service_minutes.median for f in figures]),
    ]
    out = []
    for chart_id, title, series, stacked, unit, top in (
        ("st-c1", "受付方法ごとの予約数と取消", by_channel, True, "", None),
        ("st-c2", "席の使用率（使用席 / 提供席）", use, False, "%", 100),
        ("st-c3", "待ち時間と手続時間（分）", times, False, "分", None),
    ):
        svg = bar_chart(
            chart_id=chart_id,
            title=title,
            desc=f"{labels[0] if labels else ''}から{labels[-1] if labels else ''}までの{title}。{note}",
            labels=labels,
            series=series,
            stacked=stacked,
            unit=unit,
            top=top,
        )
        out.append((svg, [(s.css, s.name) for s in series]))
    return out


def heat_rows(stats: Statistics) -> list[tuple[str, list[tuple[int, str]], int]]:
    """(weekday, [(count, cell style)], total) for the busiest table; darker is busier."""
    peak = stats.busiest.peak or 1
    rows = []
    for weekday, cells in enumerate(stats.busiest.cells):
        shown = []
        for n in cells:
            alpha = 0.08 + 0.82 * n / peak if n else 0
            ink = "#fff" if alpha > 0.5 else "inherit"
            shown.append((n, f"background:rgba(31,111,178,{alpha:.2f});color:{ink}" if n else ""))
        rows.append((WEEKDAYS[weekday], shown, stats.busiest.by_weekday[weekday]))
    return rows


# --- The page -----------------------------------------------------------------------------------


@dataclass
class Query:
    venue_code: str
    procedure_code: str
    period: str
    first: date
    last: date


def read_query(request: HttpRequest, today: date) -> tuple[Query, list[str]]:
    """The form's choices, each parsed by its helper; problems are messages, never a 500."""
    errors: list[str] = []
    data = request.GET
    period = data.get("period") or "day"
    if period not in statistics.PERIODS:
        errors.append("集計の単位は 日・週・月 から選んでください。")
        period = "day"
    month_start = today.replace(day=1)
    if data.get("month"):
        month_start = parsing.month_or_none(data.get("month").strip())
        if month_start is None:
            errors.append("月は YYYY-MM の形で指定してください（2000年〜2200年）。")
            month_start = today.replace(day=1)
    first = month_start
    last = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if data.get("from") or data.get("to"):
        parsed_first = parsing.date_or_none((data.get("from") or "").strip())
        parsed_last = parsing.date_or_none((data.get("to") or "").strip())
        if parsed_first is None or parsed_last is None:
            errors.append("期間の開始日と終了日を YYYY-MM-DD の形で指定してください（2000年〜2200年）。")
        elif parsed_last < parsed_first:
            errors.append("終了日は開始日以降にしてください。")
        elif (parsed_last - parsed_first).days + 1 > MAX_DAYS:
            errors.append(f"期間は最大{MAX_DAYS}日です。")
        else:
            first, last = parsed_first, parsed_last
    query = Query(
        venue_code=parsing.text(data.get("venue"), max_length=40),
        procedure_code=parsing.text(data.get("procedure"), max_length=40),
        period=period,
        first=first,
        last=last,
    )
    return query, errors


def statistics_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    require(request, model_admin.has_view_permission(request))
    venues = user_venues(request)
    if not venues:
        return no_venue_page(request, model_admin)
    now = clock.now()
    query, errors = read_query(request, clock.today(now))
    chosen = pick_venue(venues, query.venue_code) if query.venue_code else None  # 404 if not theirs
    procedures = list(Procedure.objects.order_by("sort_order", "code"))
    procedure = next((p for p in procedures if p.code == query.procedure_code), None)
    if query.procedure_code and procedure is None:
        errors.append("その手続はありません。")
    prefecture = is_prefecture_admin(request.user)
    stats = None
    if not errors:
        stats = statistics.statistics_for(
            venues=[chosen] if chosen else venues,
            procedure=procedure,
            first=query.first,
            last=query.last,
            period=query.period,
            now=now,
            ranking=prefecture and chosen is None,
        )
        if request.GET.get("format") == "csv":
            return statistics_csv(stats, chosen.code if chosen else ("all" if prefecture else "mine"))
    elif request.GET.get("format") == "csv":
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
    whole_month = (
        query.first.day == 1
        and (query.last + timedelta(days=1)).day == 1
        and (query.last - query.first).days < 31
    )
    base = {"venue": query.venue_code, "procedure": query.procedure_code, "period": query.period}
    context: dict[str, Any] = {
        "title": "統計",
        "venues": venues,
        "chosen": chosen,
        "procedures": procedures,
        "query": query,
        "periods": list(PERIOD_LABELS.items()),
        "prefecture": prefecture,
        "errors": errors,
        "stats": stats,
        "columns": [header for header, _shown in COLUMNS],
        "ranking_columns": [header for header, _shown in RANKING_COLUMNS],
        "csv_url": "?" + urlencode({**base, "from": query.first, "to": query.last, "format": "csv"}),
        "day_url": day_page_url(chosen) if chosen else reverse("admin:bookings_booking_day"),
    }
    if whole_month:
        previous = (query.first - timedelta(days=1)).replace(day=1)
        following = query.last + timedelta(days=1)
        context["prev_url"] = "?" + urlencode({**base, "month": f"{previous:%Y-%m}"})
        context["next_url"] = "?" + urlencode({**base, "month": f"{following:%Y-%m}"})
    if stats is not None:
        rows = figure_rows(stats)
        context.update(
            rows=rows,
            totals=rows[-1],
            charts=charts(stats),
            heat=heat_rows(stats),
            hours=stats.busiest.hours,
            ranking=[(r, stats.ranking[i]) for i, r in enumerate(ranking_rows(stats))],
            table=[
                (day_link(chosen, row.first, stats.period), cells[0], cells[1:])
                for row, cells in zip(stats.rows, rows[:-1])
            ],
            summary=summary(stats.totals),
            scope_label=chosen.name
            if chosen
            else ("県内すべての会場" if prefecture else "担当のすべての会場"),
        )
    return render(
        request, model_admin, "admin/bookings/statistics.html", context, status=400 if errors else 200
    )


def day_link(venue: Venue | None, day: date, period: str) -> str:
    """A day's row opens that day's page when the figures are of one venue."""
    return day_page_url(venue, day) if venue is not None and period == "day" else ""


def summary(f: Figures) -> list[tuple[str, str, str]]:
    """(label, figure, detail) for the boxes at the top."""
    return [
        ("予約", str(f.bookings), f"オンライン {f.online} / 職員 {f.staff} / 当日 {f.walk_in}"),
        ("取消", str(f.cancelled), f"本人 {f.cancelled_by_resident} / 会場都合 {f.cancelled_by_venue}"),
        ("来庁なし率", percent(f.no_show_rate), f"{f.no_shows} / {f.due}"),
        ("席の使用率", percent(f.seat_use), f"{f.seats_used} / {f.seats_offered}"),
        (
            "予約から来庁まで",
            f"{number(days_of(f.lead_hours.median))}日",
            f"90%: {number(days_of(f.lead_hours.p90))}日",
        ),
        ("待ち時間", f"{number(f.waiting_minutes.median)}分", f"90%: {number(f.waiting_minutes.p90)}分"),
        ("手続時間", f"{number(f.service_minutes.median)}分", f"90%: {number(f.service_minutes.p90)}分"),
    ]


def statistics_csv(stats: Statistics, label: str) -> HttpResponse:
    """The page's figures: per period and the totals, the busiest table, and the ranking. UTF-8
    with a BOM (Excel reads the Japanese), every text cell guarded against formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    procedure = stats.procedure.name if stats.procedure else "すべての手続"
    places = "、".join(venue.name for venue in stats.venues)
    writer.writerow(
        [_cell(v) for v in ("統計", places, procedure, stats.first, stats.last, PERIOD_LABELS[stats.period])]
    )
    writer.writerow(["期間", *(header for header, _shown in COLUMNS)])
    for row in figure_rows(stats):
        writer.writerow([_cell(v) for v in row])
    writer.writerow([])
    writer.writerow(["曜日＼時", *(f"{hour}時" for hour in stats.busiest.hours), "計"])
    for weekday, cells in enumerate(stats.busiest.cells):
        writer.writerow([WEEKDAYS[weekday], *cells, stats.busiest.by_weekday[weekday]])
    writer.writerow(["計", *stats.busiest.by_hour, sum(stats.busiest.by_hour)])
    if stats.ranking:
        writer.writerow([])
        writer.writerow(["順位", "会場", *(header for header, _shown in RANKING_COLUMNS)])
        for row in ranking_rows(stats):
            writer.writerow([_cell(v) for v in row])
    response = HttpResponse(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8"
    )
    span = f"{stats.first.isoformat()}_{stats.last.isoformat()}"
    response["Content-Disposition"] = f'attachment; filename="statistics-{label}-{span}.csv"'
    return response
