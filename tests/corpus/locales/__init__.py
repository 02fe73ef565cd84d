"""Template data per language; ALL is every locale the generator composes messages for."""

from __future__ import annotations

from tests.corpus.locales import de, en, es, fr, it, ja, nl, pl, pt_ar, sv, tr
from tests.corpus.model import Locale

ALL: tuple[Locale, ...] = (de.LOCALE, en.US, en.GB, fr.LOCALE, it.LOCALE, es.LOCALE, ja.LOCALE, nl.LOCALE,
                           pl.LOCALE, sv.LOCALE, tr.LOCALE, pt_ar.PT, pt_ar.AR, en.AE)
