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
    attached_at   BIGINT NOT NULL,
    distance_m    DOUBLE PRECISION,
    far_from_task BOOLEAN NOT NULL,
    before_task   BOOLEAN NOT NULL,
    PRIMARY KEY (hash, task)
);

INSERT INTO photo_attachments
    (hash, task, kind, device, attached_at, distance_m, far_from_task, before_task)
SELECT hash, task, kind, uploaded_by, uploaded_at, distance_m, far_from_task, before_task
FROM photos;
