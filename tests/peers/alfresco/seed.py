# Copied from ../shared/testbed/alfresco (the Alfresco probe stand-in: only -ready- / -live-, backed by
# the real PostgreSQL database and the on-disk content store).
"""Seed a repository: alf_content_url rows (real ACS columns) + .bin files in the
ACS FileContentStore layout dir.root/contentstore/<year>/<month>/<day>/<hour>/<minute>/<guid>.bin
(month/day/hour/minute not zero-padded, as TimeBasedFileContentUrlProvider does)."""
import datetime
import os
import sys
import uuid
import zlib

import psycopg

dsn, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with psycopg.connect(dsn) as c:
    c.execute("""create sequence if not exists alf_content_url_seq;
      create table if not exists alf_content_url (id int8 not null primary key, content_url varchar(255) not null,
        content_url_short varchar(12) not null, content_url_crc int8 not null, content_size int8 not null, orphan_time int8 null);
      create unique index if not exists idx_alf_conturl_cr on alf_content_url (content_url_short, content_url_crc);
      create table if not exists alf_node_standin (id bigserial primary key, uuid varchar(36) not null unique,
        name text not null, content_url_id int8 references alf_content_url(id));""")
    for i in range(n):
        t = datetime.datetime.now()
        url = f"store://{t.year}/{t.month}/{t.day}/{t.hour}/{t.minute}/{uuid.uuid4()}.bin"
        data = (f"document {i} " * (50 + i)).encode()
        path = os.path.join(root, "contentstore", url[len("store://"):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").write(data)
        cid = c.execute("""insert into alf_content_url values (nextval('alf_content_url_seq'), %s, %s, %s, %s, null) returning id""",
                        (url, url[-12:], zlib.crc32(url.encode()), len(data))).fetchone()[0]
        c.execute("insert into alf_node_standin(uuid, name, content_url_id) values (%s,%s,%s)", (str(uuid.uuid4()), f"doc{i}.txt", cid))
print("seeded", n)
