//! What a review looks at: [`Review`], the target of [`Thread::review`](crate::Thread::review).

use crate::types::{
    BaseBranchReviewTarget, CommitReviewTarget, CustomReviewTarget, ReviewTarget, UncommittedChangesReviewTarget,
};

/// The target of a review ([`Thread::review`](crate::Thread::review)); converts into the
/// protocol's [`ReviewTarget`], which `review` also takes as is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Review {
    /// The working tree: staged, unstaged and untracked files.
    UncommittedChanges,
    /// The changes between the current branch and this base branch.
    BaseBranch(String),
    /// The changes of one commit, with an optional label (its subject) for UIs.
    Commit {
        /// The commit's sha.
        sha: String,
        /// A human-readable label.
        title: Option<String>,
    },
    /// Free-form review instructions.
    Custom(String),
}

impl Review {
    /// Reviews the working tree.
    pub fn uncommitted_changes() -> Self {
        Review::UncommittedChanges
    }

    /// Reviews the changes against `branch`.
    pub fn base_branch(branch: impl Into<String>) -> Self {
        Review::BaseBranch(branch.into())
    }

    /// Reviews one commit.
    pub fn commit(sha: impl Into<String>) -> Self {
        Review::Commit { sha: sha.into(), title: None }
    }

    /// Reviews by free-form instructions.
    pub fn custom(instructions: impl Into<String>) -> Self {
        Review::Custom(instructions.into())
    }
}

impl From<Review> for ReviewTarget {
    fn from(review: Review) -> Self {
        match review {
            Review::UncommittedChanges => {
                ReviewTarget::UncommittedChanges(UncommittedChangesReviewTarget(Default::default()))
            }
            Review::BaseBranch(branch) => ReviewTarget::BaseBranch(BaseBranchReviewTarget { branch }),
            Review::Commit { sha, title } => ReviewTarget::Commit(CommitReviewTarget { sha, title }),
            Review::Custom(instructions) => ReviewTarget::Custom(CustomReviewTarget { instructions }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_serialize_as_the_protocol_spells_them() {
        let wire = |r: Review| serde_json::to_value(ReviewTarget::from(r)).unwrap();
        assert_eq!(wire(Review::uncommitted_changes()), json!({"type": "uncommittedChanges"}));
        assert_eq!(wire(Review::base_branch("main")), json!({"type": "baseBranch", "branch": "main"}));
        assert_eq!(wire(Review::commit("abc")), json!({"type": "commit", "sha": "abc"}));
        assert_eq!(wire(Review::custom("look")), json!({"type": "custom", "instructions": "look"}));
    }
}
