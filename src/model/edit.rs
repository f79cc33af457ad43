//! Writing a typed value back into its file while keeping what an operator wrote by hand: comments,
//! key order, and the formatting of every key whose value did not change.
//!
//! [`update`] is a three-way merge on the TOML syntax tree. *Base* is the file's current value as
//! our serializer would write it (fields at their default left out), *new* is the new value written
//! the same way, *file* is the text as it is. A key whose value is the same in base and new is left
//! untouched in the file (so `enabled = true`, written out by hand although it is the default,
//! survives); a changed key gets the new value with the old key's comments and trailing comment; a
//! new key is appended to its table; a key that left the new value is removed. Arrays of tables
//! (`[[tokens]]`) are matched by their `id` when every element has one, else by position, so a
//! comment above a token stays with that token. [`render`] writes a fresh file.
//! No IO; this module does not validate (the loader does).

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write the value as TOML: {0}")]
    Serialize(#[from] toml::ser::Error),
    #[error("the current file is not valid TOML: {0}")]
    Parse(#[from] toml_edit::TomlError),
}

/// A fresh file for `value`, fields at their default left out.
pub fn render<T: Serialize>(value: &T) -> Result<String, Error> {
    Ok(toml::to_string(value)?)
}

/// `current` (the file's text, maybe hand-edited) rewritten to hold `new`.
pub fn update<T: Serialize + DeserializeOwned>(current: &str, new: &T) -> Result<String, Error> {
    let mut file: DocumentMut = current.parse()?;
    // When the file does not deserialize (it was broken by hand), every key of the file counts as
    // written by us: keys the new value lacks are then removed.
    let base: DocumentMut = match toml::from_str::<T>(current) {
        Ok(old) => render(&old)?.parse()?,
        Err(_) => file.clone(),
    };
    let new: DocumentMut = render(new)?.parse()?;
    let orphaned = merge_tables(
        file.as_table_mut(),
        Some(base.as_table()),
        new.as_table(),
        Place::Root,
    );
    // Comments that belonged to no removed key (the file's header) and found no later key to stay
    // with go back to the top of the file rather than being lost.
    Ok(format!("{orphaned}{file}"))
}

/// The text of an item as our serializer writes it, for comparing base and new.
fn canonical(item: &Item) -> String {
    let mut doc = DocumentMut::new();
    doc.insert("x", item.clone());
    doc.to_string()
}

/// Merges `new` into `file`; returns the detached comments of removed keys that no kept key
/// followed (only the caller knows where they can go).
fn merge_tables(
    file: &mut dyn TableLike,
    base: Option<&dyn TableLike>,
    new: &dyn TableLike,
    at: Place,
) -> String {
    let keys: Vec<String> = file.iter().map(|(k, _)| k.to_owned()).collect();
    // Comments above a removed key that are not about that key move to the next key kept.
    let mut carried = String::new();
    for (i, key) in keys.iter().enumerate() {
        // A key absent from base is at its default in the old value; if the new value keeps the
        // default too, the operator's explicit line stays.
        if new.get(key).is_none() && base.is_none_or(|b| b.contains_key(key)) {
            let prefix = file
                .key(key)
                .and_then(|k| k.leaf_decor().prefix())
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_owned();
            carried.push_str(&detached_comments(&prefix, i == 0 && at == Place::Root));
            file.remove(key);
        } else if !carried.is_empty() {
            if let Some(mut k) = file.key_mut(key) {
                let own = k
                    .leaf_decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_owned();
                k.leaf_decor_mut().set_prefix(format!("{carried}{own}"));
            }
            carried.clear();
        }
    }
    let mut inserted = false;
    for (key, new_item) in new.iter() {
        let base_item = base.and_then(|b| b.get(key));
        match file.get_mut(key) {
            Some(file_item) => merge_item(file_item, base_item, new_item),
            None => {
                file.insert(key, fresh(new_item));
                inserted = true;
            }
        }
    }
    // An inline table cannot hold comments; re-spacing it after an insert keeps it tidy.
    if inserted && at == Place::Inline {
        file.fmt();
    }
    carried
}

/// Where a table sits, for the formatting rules that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Table,
    Inline,
}

/// The part of a removed key's leading comments that is not about the key itself: everything up
/// to the last blank line (a paragraph of its own), or all of it for the first key of the file
/// (the file's header comment).
fn detached_comments(prefix: &str, first_of_file: bool) -> String {
    if first_of_file {
        return prefix.to_owned();
    }
    match prefix.rfind("\n\n") {
        Some(end) => prefix[..end + 2].to_owned(),
        None => String::new(),
    }
}

fn merge_item(file: &mut Item, base: Option<&Item>, new: &Item) {
    if base.is_some_and(|b| canonical(b) == canonical(new)) {
        return;
    }
    if file.is_table_like() && new.is_table_like() {
        let base = base.and_then(Item::as_table_like);
        let new = new.as_table_like().expect("checked to be table-like");
        let at = if file.is_value() {
            Place::Inline
        } else {
            Place::Table
        };
        let file = file.as_table_like_mut().expect("checked to be table-like");
        // Inside a table, orphaned comments were about keys that are gone with it.
        let _ = merge_tables(file, base, new, at);
        return;
    }
    if let (Item::ArrayOfTables(f), Item::ArrayOfTables(n)) = (&mut *file, new) {
        merge_arrays(f, base.and_then(Item::as_array_of_tables), n);
        return;
    }
    if let Item::Value(old) = file
        && let Ok(mut value) = new.clone().into_value()
    {
        *value.decor_mut() = old.decor().clone();
        *old = value;
        return;
    }
    *file = fresh(new);
}

fn merge_arrays(file: &mut ArrayOfTables, base: Option<&ArrayOfTables>, new: &ArrayOfTables) {
    let id = |t: &Table| t.get("id").and_then(Item::as_str).map(str::to_owned);
    let by_id = new.iter().all(|t| id(t).is_some());
    let find = |array: &ArrayOfTables, i: usize, wanted: &Table| -> Option<Table> {
        if by_id {
            array.iter().find(|t| id(t) == id(wanted)).cloned()
        } else {
            array.get(i).cloned()
        }
    };
    let mut out = ArrayOfTables::new();
    for (i, new_table) in new.iter().enumerate() {
        match find(file, i, new_table) {
            Some(mut kept) => {
                let base_table = base.and_then(|b| find(b, i, new_table));
                let _ = merge_tables(
                    &mut kept,
                    base_table.as_ref().map(|t| t as &dyn TableLike),
                    new_table,
                    Place::Table,
                );
                out.push(kept);
            }
            None => {
                let mut table = new_table.clone();
                table.set_position(None);
                out.push(table);
            }
        }
    }
    *file = out;
}

/// An item from the freshly serialized value, ready to go into the file: tables lose the position
/// they had in the other document, so they are written after the file's own.
fn fresh(item: &Item) -> Item {
    let mut item = item.clone();
    match &mut item {
        Item::Table(t) => t.set_position(None),
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                t.set_position(None);
            }
        }
        _ => {}
    }
    item
}

#[cfg(test)]
mod tests;
