"""The probe: real calls made as the caller, recorded in `snapshot.probes`.

collect → snapshot → probe → analyze. The probe runs after collection and before the analysis,
which reads its results like any other snapshot fact (so `analyze snapshot.json` replays them
offline). Everything goes through `kmsdoctor.aws`; nothing here decides anything.

- `run_probes(request, snapshot, options)` — GetCallerIdentity, DescribeKey, HeadObject, a
  one-byte GetObject, and with `ProbeOptions(decrypt=True)` a kms:Decrypt round trip;
- `lookup_denials(request, snapshot)` — `--cloudtrail`: recent denied KMS events in A and B.

See docs/probe.md for what each call proves and how the analysis reconciles the answers.
"""

from kmsdoctor.probe.cloudtrail import lookup_denials
from kmsdoctor.probe.run import ProbeOptions, run_probes

__all__ = ["ProbeOptions", "lookup_denials", "run_probes"]
