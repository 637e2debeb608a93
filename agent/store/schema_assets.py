"""Tables of S.04.04.01.01_P (IT asset management): the licensing master (Anexo 1), each inventory device's
warranty, the maintenance control sheet (Anexo 2), the technical service records (Anexo 3), the renewals
recorded and the expiry notices already raised. Part of the one schema (same metadata); migration 14 makes
them. Each is written only by its module in agent/assets/; documents read them through queries.

Dates the manual writes as dates (INICIO, TERMINO, Fecha) are YYYY-MM-DD strings, as the access log's day:
a licence ends on a day of the office, not at an instant. These are records the office keeps (the master,
the history of maintenance): no retention rule prunes them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, Text

from agent.store.schema import metadata

licences = Table(             # Anexo 1: Maestro de la OTI de licenciamiento, one row per ITEM
    "licences", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),        # ITEM
    Column("siaf", String(64), nullable=False, default=""),             # REG SIAF
    Column("order_no", String(64), nullable=False, default=""),         # ORDEN (de compra / servicio)
    Column("quantity", Integer, nullable=False),                        # CANTIDAD ADQUIRIDA
    Column("software", String(256), nullable=False),                    # SOFTWARE Y/O LICENCIA DE SOFTWARE
    Column("licence_type", String(128), nullable=False, default=""),    # TIPO DE LICENCIA
    Column("location", String(256), nullable=False, default=""),        # UBICACIÓN
    Column("starts", String(10), nullable=False),                       # INICIO
    Column("ends", String(10)),                                         # TERMINO (none: perpetual)
    Column("life_months", Integer),                                     # ESTIMACION VIDA UTIL (MESES)
    Column("value_cents", BigInteger),                                  # VALOR ADQUISICION S/, in céntimos
    Column("status", String(16), nullable=False),                       # vigente | no_renueva | baja
    Column("ccp_note", String(256), nullable=False, default=""),        # NOTA CCP
    Column("month", String(32), nullable=False, default=""),            # Mes
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(128), nullable=False),                  # "Name (login)"
)

warranties = Table(           # the warranty of one device of the inventory (flow 1 treats it as a licence)
    "warranties", metadata,
    Column("device", String(128), primary_key=True),                    # the inventory's name
    Column("vendor", String(256), nullable=False),
    Column("contract", String(128), nullable=False, default=""),
    Column("starts", String(10), nullable=False),
    Column("ends", String(10), nullable=False),
    Column("status", String(16), nullable=False),                       # vigente | no_renueva | baja
    Column("note", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(128), nullable=False),
)

maintenance_records = Table(  # Anexo 2: Ficha de control de mantenimientos realizados (flow 2, 9 and 22)
    "maintenance_records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),        # N.º
    Column("kind", String(16), nullable=False),                         # preventivo | correctivo
    Column("day", String(10), nullable=False),                          # Fecha
    Column("service", String(256), nullable=False),                     # Servicio
    Column("provider", String(256), nullable=False),                    # Proveedor (or "OTI": own resources)
    Column("description", Text, nullable=False),                        # Descripción del Servicio
    Column("document", String(256), nullable=False, default=""),        # Documento (OS, contrato, acta)
    Column("detail", Text, nullable=False, default=""),                 # Detalle del Servicio
    Column("goods", Text, nullable=False),                              # Equipos o bienes que participan
    Column("final_state", String(128), nullable=False),                 # Estado Final
    Column("remarks", Text, nullable=False, default=""),                # Observaciones
    Column("device", String(128)),                                      # the inventory device it is about
    Column("alert_id", Integer),                                        # the alert it answered, if any
    Column("service_record_id", Integer),                               # its acta (Anexo 3), if any
    Column("recorded_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_maintenance_records_day", "day"),
)

service_records = Table(      # Anexo 3: Acta de servicio de mantenimiento técnico (flow 2, activity 13)
    "service_records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),              # FECHA Y HORA
    Column("user", String(256), nullable=False),                        # USUARIO
    Column("unit", String(256), nullable=False),                        # ÓRGANO / UNIDAD
    Column("reason", Text, nullable=False),                             # MOTIVO ATENCIÓN
    Column("goods", Text, nullable=False),                              # JSON: the bienes evaluated
    Column("requirement", Text, nullable=False, default=""),            # detalle del requerimiento, one a line
    Column("observation", Text, nullable=False, default=""),            # 01 OBSERVACIÓN
    Column("diagnosis", Text, nullable=False, default=""),              # 02 DIAGNÓSTICO
    Column("conclusions", Text, nullable=False, default=""),            # 03 CONCLUSIONES
    Column("device", String(128)),
    Column("alert_id", Integer),
    Column("recorded_by", String(128), nullable=False),                 # the specialist who signs it
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_service_records_alert", "alert_id"),
)

asset_renewals = Table(       # flow 1, activities 23–27: a licence or warranty renewed (its new TERMINO)
    "asset_renewals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),                         # licence | warranty
    Column("item", String(128), nullable=False),                        # the licence's ITEM or the device
    Column("name", String(256), nullable=False),                        # what it was, as shown then
    Column("previous_end", String(10)),
    Column("new_end", String(10), nullable=False),
    Column("by", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_asset_renewals_at", "at"),
)

expiry_notices = Table(       # flow 1, activities 14–15 and 31–32: one notice per end date and threshold
    "expiry_notices", metadata,
    Column("kind", String(16), primary_key=True),
    Column("item", String(128), primary_key=True),
    Column("ends", String(10), primary_key=True),                       # a renewal (a new end) starts over
    Column("threshold", Integer, primary_key=True),                     # days before the end
    Column("alert_id", Integer),                                        # None: passed by (a nearer one raised)
    Column("at", DateTime(timezone=True), nullable=False),
)
