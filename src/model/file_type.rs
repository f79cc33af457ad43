pub trait FileType: serde::de::DeserializeOwned + serde::Serialize {
    /// In-file checks; `Problem.field` is a dotted path (`history.keep_last`) that the loader maps to a line.
    fn validate(&self, problems: &mut Vec<crate::model::Problem>);
}
