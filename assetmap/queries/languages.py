"""Language match: the languages spoken, and a ward's speakers with no provider in it."""

from __future__ import annotations

import duckdb
import pandas as pd

from assetmap.queries.measures import LEVEL


def languages_spoken(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the main languages (other than English and Welsh) with speakers in the study area, most speakers first."""
    return [r[0] for r in con.execute(
        "SELECT language FROM unit_languages WHERE unit_level = ? GROUP BY 1 ORDER BY sum(speakers) DESC",
        [LEVEL]).fetchall()]


def ward_languages(con: duckdb.DuckDBPyConnection, code: str, top: int = 8) -> pd.DataFrame:
    """Return a ward's most spoken main languages other than English or Welsh.

    Speakers, their share of residents, ESOL or refugee-support providers in the language within reach, and the
    language gap.
    """
    from assetmap.vocab.languages import language_label

    df = con.execute(
        """SELECT language, speakers, share, providers, covered, language_gap FROM unit_languages
           WHERE unit_level = ? AND unit_code = ? ORDER BY rank LIMIT ?""", [LEVEL, code, top]).df()
    df.insert(0, "main language", df.pop("language").map(language_label))
    return df
