"""Auto-answer rules: keyword rules kept as data, evaluated in order on every inbound SMS.

Layout, by what each module knows:
- `text`: text normalisation for matching (NFKC, case-fold, trim), nothing else;
- `matching`: one rule's keyword test (exact, prefix, contains, regex, anything else);
- `conditions`: who sent it, which SIM received it, when (pure, clock passed in);
- `template`: reply templates and their placeholders;
- `definition`: a rule as JSON (what the API takes and the table keeps), validated and compiled;
- `evaluate`: which rules match a message, in order, and the actions they plan (pure);
- `safety`: whom an automatic reply may go to, cooldown and loop bounds, unsubscribe keywords;
- `engine`: the running part (hub subscription, store, intake, contacts, webhooks).
"""
