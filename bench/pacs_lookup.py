"""Prior-exam lookup latency against a real Orthanc holding 10,000 studies.

Run from the repository root:

    .venv/bin/python bench/pacs_lookup.py            # defaults: 10,000 studies, 200 rounds
    .venv/bin/python bench/pacs_lookup.py --studies 2000 --rounds 50

One patient-scoped query (PatientID + IssuerOfPatientID + a five-year StudyDate
range, Study Root, STUDY level) is timed three ways, interleaved round by round
so that they share the machine's noise:

- ``priors_lookup``: our whole stage (fresh association, parse, merge, map to
  the catalogue, dose estimate), cache disabled;
- bare pynetdicom: associate, the same C-FIND, release — TCP_NODELAY set;
- dcmtk ``findscu``: the same keys, timed around the process (start included).

Orthanc runs with TCP_NODELAY=1 in its environment (NOTES-PACS.md).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ISSUER = "1.2.250.1.213.1.4.8"
PATIENT = "1960123456789"
MODALITIES = ["CT", "MR", "US", "DX", "MG", "NM"]
DESCRIPTIONS = {
    "CT": "SCANNER THORACIQUE SANS INJECTION",
    "MR": "IRM DU GENOU",
    "US": "ECHOGRAPHIE ABDOMINALE",
    "DX": "RADIOGRAPHIE THORAX FACE",
    "MG": "MAMMOGRAPHIE BILATERALE",
    "NM": "SCINTIGRAPHIE OSSEUSE",
}


def setup_django(workdir: Path) -> None:
    # A throw-away SQLite database holding the procedure catalogue; no cache.
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "imaging_cds.settings",
            "VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "PACS_CACHE_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from guidelines.catalogue import procedure_catalogue_load

    call_command("migrate", verbosity=0, interactive=False)
    procedure_catalogue_load()


def generate(total: int, today: date, patient_studies: int) -> list[bytes]:
    from tests.orthanc import study_file

    rng = random.Random(20250615)
    files = []
    for n in range(patient_studies):
        modality = MODALITIES[n % len(MODALITIES)]
        files.append(
            study_file(
                patient_id=PATIENT,
                issuer=ISSUER,
                study_date=(today - timedelta(days=30 + 97 * n)).strftime("%Y%m%d"),
                modality=modality,
                description=DESCRIPTIONS[modality],
            )
        )
    for n in range(total - patient_studies):
        modality = rng.choice(MODALITIES)
        files.append(
            study_file(
                patient_id=f"{2000000000000 + n // 5}",
                issuer=ISSUER,
                study_date=(today - timedelta(days=rng.randrange(0, 730))).strftime("%Y%m%d"),
                modality=modality,
                description=DESCRIPTIONS[modality],
            )
        )
    return files


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--patient-studies", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8, help="parallel uploads")
    args = parser.parse_args()

    findscu = shutil.which("findscu")
    if findscu is None:
        print("findscu (dcmtk) is not installed: apt-get install dcmtk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-pacs-"))
    setup_django(workdir)

    from django.conf import settings
    from pynetdicom import AE
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelFind,
    )

    from ordering.pacs.dimse import NODELAY_HANDLERS
    from ordering.pacs.nodes import PacsNode
    from ordering.pacs.query import StudyQuery, study_query_dataset
    from ordering.priors import LookupStatus, priors_lookup
    from tests.orthanc import OrthancServer

    today = date.today()
    server = OrthancServer(aet="BENCHPACS", dicomweb=False).start()
    try:
        started = time.monotonic()
        files = generate(args.studies, today, args.patient_studies)
        generated = time.monotonic() - started
        server.upload_many(files, workers=args.workers)
        loaded = time.monotonic() - started - generated
        count = server.study_count()
        print(
            f"Orthanc {server.aet} on port {server.dicom_port}: {count} studies "
            f"(generated in {generated:.1f} s, loaded in {loaded:.1f} s over REST, "
            f"{args.workers} parallel uploads)"
        )

        node = PacsNode(
            name="bench",
            host="127.0.0.1",
            port=server.dicom_port,
            called_aet=server.aet,
            calling_aet="IMAGINGCDS",
        )
        settings.PACS_NODES = [node]
        settings.PACS_TIMEOUT_SECONDS = 5.0
        lookback = int(settings.PACS_LOOKBACK_DAYS)
        query = StudyQuery(
            patient_id=PATIENT,
            issuer=ISSUER,
            date_from=today - timedelta(days=lookback),
            date_to=today,
        )
        identifier = study_query_dataset(query)

        bare_ae = AE(ae_title="IMAGINGCDS")
        bare_ae.acse_timeout = bare_ae.dimse_timeout = bare_ae.network_timeout = 5
        bare_ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)

        def ours() -> int:
            result = priors_lookup(patient_id=PATIENT, issuer=ISSUER, today=today)
            assert result.status is LookupStatus.OK, result.reason
            return len(result.studies)

        def bare() -> int:
            assoc = bare_ae.associate(
                "127.0.0.1", server.dicom_port, ae_title=server.aet, evt_handlers=NODELAY_HANDLERS
            )
            assert assoc.is_established
            found = 0
            for status, ds in assoc.send_c_find(
                identifier, StudyRootQueryRetrieveInformationModelFind
            ):
                if status and status.Status in (0xFF00, 0xFF01) and ds is not None:
                    found += 1
            assoc.release()
            return found

        findscu_cmd = [
            findscu,
            "-S",
            "-aet",
            "IMAGINGCDS",
            "-aec",
            server.aet,
            *[
                arg
                for key in (
                    "QueryRetrieveLevel=STUDY",
                    "SpecificCharacterSet=ISO_IR 192",
                    f"PatientID={PATIENT}",
                    f"IssuerOfPatientID={ISSUER}",
                    f"StudyDate={query.date_range()}",
                    "ModalitiesInStudy",
                    "StudyInstanceUID",
                    "StudyDescription",
                    "AccessionNumber",
                    "InstitutionName",
                    "BodyPartExamined",
                )
                for arg in ("-k", key)
            ],
            "127.0.0.1",
            str(server.dicom_port),
        ]

        def dcmtk() -> int:
            done = subprocess.run(findscu_cmd, capture_output=True, check=False)
            assert done.returncode == 0, done.stderr.decode(errors="replace")
            return -1

        expected = args.patient_studies
        runners = {"priors_lookup": ours, "bare pynetdicom": bare, "findscu": dcmtk}
        for name, run in runners.items():
            found = run()
            assert found in (expected, -1), f"{name} found {found} studies, not {expected}"
        for _ in range(args.warmup):
            for run in runners.values():
                run()
        timings: dict[str, list[float]] = {name: [] for name in runners}
        bench_started = time.monotonic()
        for _ in range(args.rounds):
            for name, run in runners.items():
                tick = time.perf_counter()
                run()
                timings[name].append((time.perf_counter() - tick) * 1000)
        measured = time.monotonic() - bench_started
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\nPatient-scoped C-FIND ({expected} matching studies of {count}), "
        f"{args.rounds} interleaved rounds in {measured:.1f} s, TCP_NODELAY on both sides:\n"
    )
    print(f"  {'':<16} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, values in timings.items():
        print(
            f"  {name:<16} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
            f"{statistics.fmean(values):8.1f}"
        )
    ours_p50 = percentile(timings["priors_lookup"], 50)
    bare_p50 = percentile(timings["bare pynetdicom"], 50)
    findscu_p50 = percentile(timings["findscu"], 50)
    print(
        f"\n  priors_lookup / bare pynetdicom (p50): {ours_p50 / bare_p50:.2f}x (target <= 1.2x)"
        f"\n  priors_lookup / findscu (p50):         {ours_p50 / findscu_p50:.2f}x (target < 1x)"
    )
    print(
        "\nReproduce: .venv/bin/python bench/pacs_lookup.py "
        f"--studies {args.studies} --rounds {args.rounds}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
