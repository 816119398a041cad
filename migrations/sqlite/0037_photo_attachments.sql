-- Photo attachments (issue 16, point 12): which task a stored photo was uploaded for, by
-- which device, and its place-and-time flags against that task. A blob (`photos`, by
-- hash) is stored once; every task it was uploaded for has its own attachment, and a
-- task shows the photo (originals, evidence, the tracking page) only when its document
-- also references the hash. `photos.task` and its flags stay those of the first upload.

CREATE TABLE photo_attachments (
    hash          TEXT NOT NULL CHECK (length(hash) = 64),
    task          TEXT NOT NULL,
    kind          TEXT CHECK (kind IN ('before', 'after', 'evidence')),
    device        TEXT NOT NULL,
    attached_at   INTEGER NOT NULL,
    distance_m    REAL,
    far_from_task INTEGER NOT NULL CHECK (far_from_task IN (0, 1)),
    before_task   INTEGER NOT NULL CHECK (before_task IN (0, 1)),
    PRIMARY KEY (hash, task)
) STRICT;

INSERT INTO photo_attachments
    (hash, task, kind, device, attached_at, distance_m, far_from_task, before_task)
SELECT hash, task, kind, uploaded_by, uploaded_at, distance_m, far_from_task, before_task
FROM photos;
