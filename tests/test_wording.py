"""Words and numbers as a reader sees them: percentages to one decimal on screen, every digit in a download."""

import polars as pl

from dashboard import wording


def test_fractions_shown_as_percentages_carry_one_decimal_and_counts_are_untouched():
    frame = pl.DataFrame(
        {
            "rate": [2 / 3, 0.3, None, 1.0, 0.0, 0.99951],
            "d30_rate": [0.12345, 0.5, 1.0, 0.0, 0.9996, 0.0004],
            "numerator": [2, 3, 0, 1, 0, 1999],
            "centre_code": ["A", "B", "C", "D", "E", "F"],
        }
    )
    shown = wording.one_decimal(frame)
    percents = [None if v is None else f"{v * 100:g}%" for v in shown["rate"]]
    assert percents == ["66.7%", "30%", None, "100%", "0%", "100%"]
    assert [f"{v * 100:.10g}" for v in shown["d30_rate"]] == ["12.3", "50", "100", "0", "100", "0"]
    assert shown.select("numerator", "centre_code").equals(frame.select("numerator", "centre_code"))
    assert wording.one_decimal(frame.select("numerator")).equals(frame.select("numerator"))
