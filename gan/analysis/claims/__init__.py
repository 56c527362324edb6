"""The claims: one registry of records and the code that tests them, in the order a claim is read.

    registry.py   one record per claim (number, text, primary metric, scale, margin, direction, rule, descriptive
                  rows, the keys it reads, its role): every list, margin and special case derives from it
    result.py     ClaimResult: one claim's numbers, as analysis.json holds them and as short text
    rules.py      the arms and the baseline runs, and one function per rule (RULES)
    evaluate.py   a study's claims tested, decided in one Holm family, then the descriptive rows
"""
