//! Queries on `manifests` and `manifest_references`, and what a manifest push asks of
//! `repository_blobs` (touching and checking the links it relies on).

use std::collections::BTreeSet;

use sqlx::{Any, AnyConnection, Executor, Row};

use super::{digest_at, Backend, Database, DbError};
use crate::oci::{Digest, RepoName, Tag};

/// A stored manifest as the registry serves it.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub digest: Digest,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A manifest that names another as its `subject`, as the referrers API lists it.
#[derive(Debug, Clone)]
pub struct ReferrerRow {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: i64,
    pub annotations: Option<String>,
}

/// The blobs and manifests a manifest references, each once, as the JSON arrays the
/// set-based statements below bind as one parameter each. Built before the write transaction,
/// so that transaction holds the writer only for its statements.
#[derive(Debug, Clone)]
pub struct ReferenceSet {
    blobs: String,
    blob_count: u64,
    manifests: String,
    manifest_count: u64,
}

impl ReferenceSet {
    pub fn new(blobs: &[Digest], manifests: &[Digest]) -> ReferenceSet {
        let blobs: BTreeSet<&Digest> = blobs.iter().collect();
        let manifests: BTreeSet<&Digest> = manifests.iter().collect();
        let json = |set: &BTreeSet<&Digest>| serde_json::to_string(set).expect("digests serialise");
        ReferenceSet {
            blobs: json(&blobs),
            blob_count: blobs.len() as u64,
            manifests: json(&manifests),
            manifest_count: manifests.len() as u64,
        }
    }
}

/// A manifest to insert, with what it references.
pub struct NewManifest<'a> {
    pub repository_id: i64,
    pub digest: &'a Digest,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub subject_digest: Option<&'a Digest>,
    pub annotations: Option<&'a str>,
    pub content: &'a [u8],
    pub references: &'a ReferenceSet,
}

/// Stores a manifest and its references. Storing the same digest twice is a no-op.
pub async fn insert(connection: &mut AnyConnection, manifest: &NewManifest<'_>, now: i64) -> Result<(), DbError> {
    let digest = manifest.digest.to_string();
    let inserted = sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest, annotations, size, content, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(manifest.repository_id)
    .bind(digest.as_str())
    .bind(manifest.media_type)
    .bind(manifest.artifact_type)
    .bind(manifest.subject_digest.map(Digest::to_string))
    .bind(manifest.annotations)
    .bind(manifest.content.len() as i64)
    .bind(manifest.content)
    .bind(now)
    .execute(&mut *connection)
    .await?;
    let references = manifest.references;
    if inserted.rows_affected() == 0 || references.blob_count + references.manifest_count == 0 {
        return Ok(());
    }
    // SQLite needs a WHERE in the last SELECT of an INSERT … SELECT … ON CONFLICT (else it
    // would read ON as a join's); `WHERE true` is that.
    let backend = Backend::of(connection);
    let sql = format!(
        "INSERT INTO manifest_references (repository_id, manifest_digest, child_kind, child_digest) \
         SELECT $1, $2, 'blob', refs.value FROM {} WHERE true \
         UNION ALL SELECT $1, $2, 'manifest', refs.value FROM {} WHERE true \
         ON CONFLICT DO NOTHING",
        backend.json_text_rows(3),
        backend.json_text_rows(4),
    );
    sqlx::query(&sql)
        .bind(manifest.repository_id)
        .bind(digest.as_str())
        .bind(&references.blobs)
        .bind(&references.manifests)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Marks the repository's links to the referenced blobs as just relied on; inside a
/// transaction this locks them against `gc`'s link sweep until it ends (PostgreSQL; SQLite
/// has one writer). Returns whether every referenced blob has a link, so the caller need
/// not look them up again when it has.
pub async fn touch_blob_links(
    connection: &mut AnyConnection,
    repository_id: i64,
    references: &ReferenceSet,
    now: i64,
) -> Result<bool, DbError> {
    if references.blob_count == 0 {
        return Ok(true);
    }
    let sql = format!(
        "UPDATE repository_blobs SET touched_at = $1 \
         WHERE repository_id = $2 AND digest IN (SELECT refs.value FROM {})",
        Backend::of(connection).json_text_rows(3),
    );
    let touched = sqlx::query(&sql)
        .bind(now)
        .bind(repository_id)
        .bind(&references.blobs)
        .execute(&mut *connection)
        .await?;
    Ok(touched.rows_affected() == references.blob_count)
}

/// The referenced blobs the repository has no link to and the referenced manifests it does
/// not hold, in one statement. `repository_id` `None` (no such repository yet) misses all.
pub async fn missing_references(
    connection: &mut AnyConnection,
    repository_id: Option<i64>,
    references: &ReferenceSet,
) -> Result<Vec<Digest>, DbError> {
    if references.blob_count + references.manifest_count == 0 {
        return Ok(Vec::new());
    }
    let backend = Backend::of(connection);
    let sql = format!(
        "SELECT refs.value FROM {} WHERE NOT EXISTS \
           (SELECT 1 FROM repository_blobs b WHERE b.repository_id = $1 AND b.digest = refs.value) \
         UNION ALL SELECT refs.value FROM {} WHERE NOT EXISTS \
           (SELECT 1 FROM manifests m WHERE m.repository_id = $1 AND m.digest = refs.value)",
        backend.json_text_rows(2),
        backend.json_text_rows(3),
    );
    let rows = sqlx::query(&sql)
        .bind(repository_id.unwrap_or(-1))
        .bind(&references.blobs)
        .bind(&references.manifests)
        .fetch_all(&mut *connection)
        .await?;
    rows.iter().map(|row| digest_at(row, 0)).collect()
}

/// [`missing_references`] of the repository called `repository`, on a reader connection.
pub async fn missing_references_on_reader(
    database: &Database,
    repository: &RepoName,
    references: &ReferenceSet,
) -> Result<Vec<Digest>, DbError> {
    if references.blob_count + references.manifest_count == 0 {
        return Ok(Vec::new());
    }
    let mut connection = database.reader().acquire().await?;
    let repository_id = super::repositories::find(&mut *connection, repository).await?;
    missing_references(&mut connection, repository_id, references).await
}

fn manifest_row(row: &sqlx::any::AnyRow) -> Result<ManifestRow, DbError> {
    Ok(ManifestRow {
        digest: digest_at(row, 0)?,
        media_type: row.try_get(1)?,
        content: row.try_get(2)?,
    })
}

/// A manifest of repository `name` by digest.
pub async fn find_by_digest<'c, E>(
    executor: E,
    repository: &RepoName,
    digest: &Digest,
) -> Result<Option<ManifestRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.content FROM manifests m JOIN repositories r ON r.id = m.repository_id \
         WHERE r.name = $1 AND m.digest = $2",
    )
    .bind(repository.as_str())
    .bind(digest.to_string())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(manifest_row).transpose()
}

/// The manifest a tag of repository `name` points to.
pub async fn find_by_tag<'c, E>(executor: E, repository: &RepoName, tag: &Tag) -> Result<Option<ManifestRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.content FROM tags t \
         JOIN repositories r ON r.id = t.repository_id \
         JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
         WHERE r.name = $1 AND t.name = $2",
    )
    .bind(repository.as_str())
    .bind(tag.as_str())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(manifest_row).transpose()
}

/// Deletes a manifest (its tags and references go with it); returns whether it existed.
pub async fn delete(connection: &mut AnyConnection, repository_id: i64, digest: &Digest) -> Result<bool, DbError> {
    let digest = digest.to_string();
    for statement in [
        "DELETE FROM tags WHERE repository_id = $1 AND manifest_digest = $2",
        "DELETE FROM manifest_references WHERE repository_id = $1 AND manifest_digest = $2",
    ] {
        sqlx::query(statement)
            .bind(repository_id)
            .bind(digest.as_str())
            .execute(&mut *connection)
            .await?;
    }
    let result = sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
        .bind(repository_id)
        .bind(digest.as_str())
        .execute(&mut *connection)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Manifests of the repository whose `subject` is `subject_digest`, optionally of one artifact type.
pub async fn referrers<'c, E>(
    executor: E,
    repository: &RepoName,
    subject_digest: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<ReferrerRow>, DbError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT m.digest, m.media_type, m.artifact_type, m.size, m.annotations FROM manifests m \
         JOIN repositories r ON r.id = m.repository_id \
         WHERE r.name = $1 AND m.subject_digest = $2 AND ($3 = '' OR m.artifact_type = $3) \
         ORDER BY m.created_at, m.digest",
    )
    .bind(repository.as_str())
    .bind(subject_digest.to_string())
    .bind(artifact_type.unwrap_or(""))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ReferrerRow {
                digest: digest_at(row, 0)?,
                media_type: row.try_get(1)?,
                artifact_type: row.try_get(2)?,
                size: row.try_get(3)?,
                annotations: row.try_get(4)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{repositories, tags};

    /// A stored digest that is not one is damaged data: an error, never a panic; a valid one
    /// reads back as the `Digest` that was stored.
    #[tokio::test]
    async fn a_stored_digest_that_does_not_parse_is_damaged_data() {
        // A file, not `sqlite::memory:`: an in-memory database differs per connection.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display());
        let db = Database::connect(&url).await.unwrap();
        let name = RepoName::parse("team/app").unwrap();
        let good = Digest::sha256_of(b"{}");
        let (good_tag, bad_tag) = (Tag::parse("good").unwrap(), Tag::parse("bad").unwrap());

        let mut transaction = db.begin().await.unwrap();
        let repository_id = repositories::ensure(&mut transaction, &name, 1).await.unwrap();
        let references = ReferenceSet::new(&[], &[]);
        let manifest = NewManifest {
            repository_id,
            digest: &good,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            subject_digest: None,
            annotations: None,
            content: b"{}",
            references: &references,
        };
        insert(&mut transaction, &manifest, 1).await.unwrap();
        tags::upsert(&mut *transaction, repository_id, &good_tag, &good, 1)
            .await
            .unwrap();
        // What no registry write stores: a manifest whose digest is not a digest, tagged, and
        // naming the good one as its subject.
        sqlx::query(
            "INSERT INTO manifests (repository_id, digest, media_type, subject_digest, size, content, created_at) \
             VALUES ($1, 'sha256:damaged', 'application/vnd.oci.image.manifest.v1+json', $2, 2, $3, 2)",
        )
        .bind(repository_id)
        .bind(good.to_string())
        .bind(&b"{}"[..])
        .execute(&mut *transaction)
        .await
        .unwrap();
        sqlx::query("INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, 'bad', 'sha256:damaged', 2)")
            .bind(repository_id)
            .execute(&mut *transaction)
            .await
            .unwrap();
        transaction.commit().await.unwrap();

        let found = find_by_tag(db.reader(), &name, &good_tag).await.unwrap().unwrap();
        assert_eq!(found.digest, good);
        assert!(find_by_digest(db.reader(), &name, &good).await.unwrap().is_some());
        assert!(matches!(
            find_by_tag(db.reader(), &name, &bad_tag).await,
            Err(DbError::Damaged(_))
        ));
        assert!(matches!(
            referrers(db.reader(), &name, &good, None).await,
            Err(DbError::Damaged(_))
        ));
    }
}
