"""The DICOM Modality Worklist (manage.py worklist_serve, its own process) queried by
a real modality-side client, dcmtk's findscu -W, and by pynetdicom, over orders
signed through the pages on real PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from ordering.models import Order
from ordering.ris.messages import accession_number
from tests.orthanc import free_port
from tests.ris.conftest import sign
from tests.test_settings import ROOT
from tests.world import PATIENT_NAMES, FlowPacs

CENTRE_AET = "WL_TEST"


@pytest.fixture
def worklist(transactional_db: None) -> Iterator[int]:
    port = free_port()
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace("@", f":{db['PASSWORD']}@", 1)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "worklist_serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "imaging_cds.settings", "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    out = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"worklist_serve did not start: {out}")
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def booked(order: Order) -> tuple[str, str, str]:
    """(station AE title, day, modality) of an order's booking."""
    assert order.booking is not None
    slot = order.booking.slot
    return (
        slot.equipment.station_ae_title,
        timezone.localtime(slot.start).strftime("%Y%m%d"),
        order.procedure.modality,
    )


def findscu(port: int, out: Path, station: str, day: str, modality: str) -> list[Dataset]:
    step = "ScheduledProcedureStepSequence[0]"
    keys = [
        f"{step}.ScheduledStationAETitle={station}",
        f"{step}.ScheduledProcedureStepStartDate={day}",
        f"{step}.Modality={modality}",
        f"{step}.ScheduledProcedureStepStartTime",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "StudyInstanceUID",
    ]
    command = ["findscu", "-v", "-W", "-aet", station, "-aec", CENTRE_AET, "-X", "-od", str(out)]
    for key in keys:
        command += ["-k", key]
    done = subprocess.run(
        [*command, "127.0.0.1", str(port)], capture_output=True, timeout=30, check=False
    )
    log = done.stdout.decode() + done.stderr.decode()
    # findscu exits 0 whatever the final status: read it.
    assert done.returncode == 0 and "Failed" not in log, log
    return [dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def test_findscu_and_pynetdicom_find_exactly_the_days_booked_exams_of_the_station(
    alice: Client, world: FlowPacs, worklist: int, tmp_path: Path
) -> None:
    orders = [sign(alice, number) for number in (21, 22, 23)]
    for order in orders:
        assert order.booking is not None
        centre = order.booking.slot.equipment.centre
        centre.worklist_ae_title = CENTRE_AET
        centre.save(update_fields=["worklist_ae_title"])
        equipment = order.booking.slot.equipment
        equipment.station_ae_title = f"ST{equipment.pk}"
        equipment.save(update_fields=["station_ae_title"])
    orders = [Order.objects.get(pk=order.pk) for order in orders]
    # A cancelled order leaves the worklist.
    alice.post(f"/orders/{orders[1].pk}/cancel/")
    station, day, modality = booked(orders[0])
    expected = {
        accession_number(order)
        for order in orders
        if order is not orders[1] and booked(order) == (station, day, modality)
    }
    assert accession_number(orders[0]) in expected
    answers = findscu(worklist, tmp_path, station, day, modality)
    assert {str(a.AccessionNumber) for a in answers} == expected
    first = next(a for a in answers if a.AccessionNumber == accession_number(orders[0]))
    assert str(first.PatientName) == "ESSAI-TESTNOM^Camille^Testprénom"
    assert first.PatientID == orders[0].patient_identifier
    step = first.ScheduledProcedureStepSequence[0]
    assert step.ScheduledStationAETitle == station and step.Modality == modality
    assert PATIENT_NAMES["birth_name"] in str(first.PatientName)

    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    query = Dataset()
    query.AccessionNumber = ""
    query.ScheduledProcedureStepSequence = [Dataset()]
    query.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate = day
    query.ScheduledProcedureStepSequence[0].ScheduledStationAETitle = station
    assoc = ae.associate("127.0.0.1", worklist, ae_title=CENTRE_AET)
    assert assoc.is_established
    found, statuses = set(), []
    for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
        statuses.append(status.Status)
        if identifier is not None and status.Status == 0xFF00:
            found.add(str(identifier.AccessionNumber))
    assoc.release()
    assert statuses[-1] == 0x0000 and found == expected

    # Another AE title is no centre's worklist: refused with a status, not an empty list.
    assoc = ae.associate("127.0.0.1", worklist, ae_title="NOT_A_CENTRE")
    assert assoc.is_established
    statuses = [s.Status for s, _i in assoc.send_c_find(query, ModalityWorklistInformationFind)]
    assoc.release()
    assert statuses == [0xA900]
