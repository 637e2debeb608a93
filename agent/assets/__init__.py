"""IT asset management (S.04.04.01.01_P): the licensing master (Anexo 1), each device's warranty, their expiry
notices through the alert book, the maintenance control sheet (Anexo 2) and the technical service records
(Anexo 3). Each table has one writer here; documents read them through agent/store/queries.py."""
