"""The PACS bridge. All DICOM networking (pynetdicom) lives in this package."""
