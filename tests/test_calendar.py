import pandas as pd
import pytest

from soe_helpers.core.calendar import (FiscalCalendar, is_week, week_end, latest_complete_week, parse_week, to_week, week_add,
                                  week_diff, week_end, week_label, week_range, week_start, weeks_in_year)


def test_week_labels_and_bounds():
    assert week_label("2026-11-25") == "2026-W48"
    assert week_start("2026-W47") == pd.Timestamp("2026-11-16")
    assert week_end("2026-W47") == pd.Timestamp("2026-11-22")
    # ISO year boundary: 2027-01-01 is a Friday in week 53 of 2026
    assert week_label("2027-01-01") == "2026-W53"
    assert week_label("2024-12-30") == "2025-W01"


def test_week_53_and_arithmetic():
    assert weeks_in_year(2026) == 53 and weeks_in_year(2025) == 52
    assert is_week("2026-W53") and not is_week("2025-W53") and not is_week("2026-W54")
    assert week_add("2026-W52", 1) == "2026-W53"
    assert week_add("2026-W53", 1) == "2027-W01"
    assert week_add("2025-W52", 1) == "2026-W01"
    assert week_diff("2027-W02", "2026-W52") == 3
    assert week_range("2026-W52", "2027-W01") == ["2026-W52", "2026-W53", "2027-W01"]


def test_parse_week_errors_say_what_is_expected():
    with pytest.raises(ValueError, match="like '2026-W47'"):
        parse_week("2026-47")
    with pytest.raises(ValueError, match="2025 has 52 ISO weeks"):
        parse_week("2025-W53")


def test_iso_quarters_follow_the_thursday():
    cal = FiscalCalendar("iso")
    q4 = cal.quarter_weeks("2026-Q4")
    assert q4[0] == "2026-W40" and q4[-1] == "2026-W53" and len(q4) == 14
    assert cal.quarter_of("2026-W40") == "2026-Q4"  # Thu 2026-10-01
    assert cal.quarter_of("2026-W39") == "2026-Q3"
    # 2026-W53 runs Mon 2026-12-28 .. Sun 2027-01-03, Thursday 2026-12-31 -> 2026-Q4
    assert cal.quarter_of("2026-W53") == "2026-Q4"
    assert cal.quarter_of("2027-W01") == "2027-Q1"
    # every week of two years in exactly one quarter
    weeks = week_range("2025-W01", "2026-W53")
    quarters = [q for y in (2025, 2026) for q in (f"{y}-Q{i}" for i in range(1, 5))]
    assert sum(len(cal.quarter_weeks(q)) for q in quarters) == len(weeks)


def test_445_calendar():
    cal = FiscalCalendar("4-4-5")
    assert cal.quarter_weeks("2026-Q1") == [f"2026-W{i:02d}" for i in range(1, 14)]
    assert len(cal.quarter_weeks("2026-Q4")) == 14  # week 53 joins Q4
    assert len(cal.quarter_weeks("2025-Q4")) == 13
    assert cal.quarter_of("2026-W53") == "2026-Q4"
    assert [cal.period_of(f"2026-W{w:02d}") for w in (1, 4, 5, 8, 9, 13, 14)] == [
        "2026-P01", "2026-P01", "2026-P02", "2026-P02", "2026-P03", "2026-P03", "2026-P04"]
    assert cal.period_of("2026-W53") == "2026-P12"
    assert FiscalCalendar("5-4-4").period_of("2026-W05") == "2026-P01"
    with pytest.raises(ValueError, match="not one of"):
        FiscalCalendar("monthly")


def test_quarter_to_date_and_remaining():
    cal = FiscalCalendar("iso")
    assert cal.quarter_to_date("2026-W47")[-1] == "2026-W47" and len(cal.quarter_to_date("2026-W47")) == 8
    assert cal.quarter_remaining("2026-W47") == [f"2026-W{i}" for i in range(48, 54)]
    assert cal.quarter_remaining("2026-W53") == []


def test_latest_complete_week():
    assert latest_complete_week("2026-11-22") == "2026-W47"  # a Sunday completes its week
    assert latest_complete_week("2026-11-21") == "2026-W46"
    assert latest_complete_week("2026-11-25") == "2026-W47"


def test_to_week_vectorised_keeps_missing():
    s = pd.Series(pd.to_datetime(["2026-11-16", None, "2027-01-03"]))
    assert to_week(s).tolist() == ["2026-W47", None, "2026-W53"]


def test_month_calendar_with_a_july_year_start():
    cal = FiscalCalendar("iso", start_month=7)
    # FY2027 = July 2026 .. June 2027; its Q2 is October-December 2026
    assert cal.quarter_of("2026-W47") == "2027-Q2" and cal.year_of("2026-W47") == 2027
    assert cal.quarter_of("2026-W27") == "2027-Q1"        # Thu 2 Jul 2026
    assert cal.quarter_of("2026-W26") == "2026-Q4"        # Thu 25 Jun 2026
    assert cal.quarter_weeks("2027-Q2") == FiscalCalendar("iso").quarter_weeks("2026-Q4")
    assert cal.period_of("2026-W27") == "2027-P01" and cal.period_of("2026-W26") == "2026-P12"
    assert len(cal.quarter_weeks("2027-Q2")) == 14 and cal.quarter_weeks("2027-Q2")[-1] == "2026-W53"


def test_month_calendar_with_a_february_year_start():
    cal = FiscalCalendar("iso", start_month=2)
    # FY2027 = Feb 2026 .. Jan 2027: January 2027 is its last month
    assert cal.quarter_of("2027-W02") == "2027-Q4" and cal.period_of("2027-W02") == "2027-P12"
    assert cal.quarter_of("2026-W06") == "2027-Q1"        # Thu 5 Feb 2026
    q = cal.quarter_weeks("2027-Q1")                       # Feb-Apr 2026
    assert q[0] == "2026-W06" and q[-1] == "2026-W18"     # Thu 30 Apr 2026 is in W18
    every = [w for n in range(1, 5) for w in cal.quarter_weeks(f"2027-Q{n}")]
    assert len(every) == len(set(every)) and all(cal.year_of(w) == 2027 for w in every)


@pytest.mark.parametrize("variation", ["last", "nearest"])
def test_retail_445_year_ends_on_the_sunday_pandas_fy5253_gives(variation):
    # a 4-4-5 year starting in February: it ends on the last / nearest Sunday of January
    cal = FiscalCalendar("4-4-5", start_month=2, year_end=variation)
    off = pd.offsets.FY5253(weekday=6, startingMonth=1, variation=variation)
    for fy in range(2020, 2031):
        assert cal.year_end_date(fy) == off.rollforward(pd.Timestamp(f"{fy}-01-01")), fy


def test_retail_calendar_53_week_year():
    cal = FiscalCalendar("4-4-5", start_month=2, year_end="nearest")
    sizes = {fy: sum(len(cal.quarter_weeks(f"{fy}-Q{q}")) for q in range(1, 5)) for fy in range(2020, 2031)}
    # years end on Sun 28 Jan 2024 and Sun 2 Feb 2025: FY2025 has 53 weeks (so has FY2030)
    assert sizes[2025] == sizes[2030] == 53 and sum(v == 52 for v in sizes.values()) == 9
    q4 = cal.quarter_weeks("2025-Q4")
    assert len(q4) == 14 and cal.period_of(q4[-1]) == "2025-P12" and cal.quarter_of(q4[-1]) == "2025-Q4"
    assert week_end(q4[-1]) == pd.Timestamp("2025-02-02") and cal.quarter_of(week_add(q4[-1], 1)) == "2026-Q1"


def test_july_445_year_on_the_last_sunday_of_june():
    cal = FiscalCalendar("4-4-5", start_month=7, year_end="last")
    assert cal.year_end_date(2026) == pd.Timestamp("2026-06-28")
    first = week_add("2026-W26", 1)                       # the week starting Mon 29 Jun 2026
    assert cal.quarter_of(first) == "2027-Q1" and cal.period_of(first) == "2027-P01"
    assert [cal.period_of(week_add(first, k)) for k in (3, 4, 8, 12, 13)] == [
        "2027-P01", "2027-P02", "2027-P03", "2027-P03", "2027-P04"]
    with pytest.raises(ValueError, match="needs year_end"):
        FiscalCalendar("4-4-5", start_month=7)


def test_meeting_date_and_working_days():
    import datetime as dt

    from soe_helpers.core.calendar import add_working_days, meeting_date

    assert meeting_date("2026-W47") == dt.date(2026, 11, 23)               # the Monday after Sunday 22 Nov
    assert meeting_date("2026-W47", "tuesday") == dt.date(2026, 11, 24)
    assert meeting_date("2026-W47", "sunday") == dt.date(2026, 11, 29)     # never the week's own last day
    assert meeting_date("2026-W53") == dt.date(2027, 1, 4)
    assert add_working_days(dt.date(2026, 11, 23), 3) == dt.date(2026, 11, 26)
    assert add_working_days(dt.date(2026, 11, 27), 1) == dt.date(2026, 11, 30)  # Friday + 1 = Monday
    assert add_working_days(dt.date(2026, 11, 28), 0) == dt.date(2026, 11, 28)
