//! Canonical dumps of a projection file: every table by name, every row rendered with
//! SQL `quote()` and sorted, so two builds of the same log compare equal row for row.

use rusqlite::Connection;

use crate::error::ProjectionError;

/// One table's rows, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDump {
    /// The table.
    pub table: String,
    /// Each row as `quote(col1)|quote(col2)|…`, sorted.
    pub rows: Vec<String>,
}

/// Dumps every table of the database `conn` is connected to.
pub(crate) fn dump_connection(conn: &Connection) -> Result<Vec<TableDump>, ProjectionError> {
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut dumps = Vec::new();
    conn.execute_batch("BEGIN")?;
    for table in tables {
        let columns: Vec<String> = conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let rendered = columns
            .iter()
            .map(|column| format!("quote(\"{column}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut rows: Vec<String> = conn
            .prepare(&format!("SELECT {rendered} FROM \"{table}\""))?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        rows.sort_unstable();
        dumps.push(TableDump { table, rows });
    }
    conn.execute_batch("COMMIT")?;
    Ok(dumps)
}

/// Dumps the projection file at `path`.
pub fn dump_file(path: &std::path::Path) -> Result<Vec<TableDump>, ProjectionError> {
    let conn = crate::db::open_reader(path)?;
    dump_connection(&conn)
}
