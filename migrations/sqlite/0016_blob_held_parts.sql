-- Where a blob's bytes are when they are not at its own key (`blobs/<algorithm>/<xx>/<hex>`):
-- the upload part they were written to. On a store where moving an object is a copy (S3), a
-- finished upload of one part is not copied to the blob's key; the part *becomes* the blob
-- and its row names it here (both NULL: the blob's own key). Readers, presigning, export and
-- gc go through the row; the upload sweepers leave a held part alone.
ALTER TABLE blobs ADD COLUMN held_session TEXT;
ALTER TABLE blobs ADD COLUMN held_part TEXT;
CREATE INDEX blobs_held_session ON blobs (held_session);
