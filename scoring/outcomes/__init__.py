"""Standard outcome measures: the catalogue (units, better direction, MDC/MCID, norms, codes, each
with its source), therapist-entered scales with their scoring rules, verdicts against baseline,
training dose, and the two ways the results leave StrideVR: a PDF progress report and FHIR R4."""
