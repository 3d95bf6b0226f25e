//! What a turn is given: text, images, skills and mentions.

use crate::types::{ImageUserInput, LocalImageUserInput, MentionUserInput, SkillUserInput, TextUserInput, UserInput};
use std::path::PathBuf;

/// One piece of user input. A `&str` or `String` converts into [`Input::Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// Plain text.
    Text(String),
    /// An image by URL (`https://…` or a `data:` URL).
    ImageUrl(String),
    /// An image file on the machine running the app-server.
    LocalImage(PathBuf),
    /// A skill: its name and the path of its `SKILL.md`.
    Skill {
        /// The skill's name.
        name: String,
        /// Path of the skill file.
        path: PathBuf,
    },
    /// A mention of a file or resource: its display name and path.
    Mention {
        /// The mention's display name.
        name: String,
        /// The mentioned path.
        path: PathBuf,
    },
}

impl Input {
    /// Text input.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// An image by URL or data URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::ImageUrl(url.into())
    }

    /// A local image file.
    pub fn local_image(path: impl Into<PathBuf>) -> Self {
        Self::LocalImage(path.into())
    }

    /// A skill.
    pub fn skill(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::Skill { name: name.into(), path: path.into() }
    }

    /// A mention.
    pub fn mention(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::Mention { name: name.into(), path: path.into() }
    }

    /// The protocol form.
    pub fn to_user_input(&self) -> UserInput {
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        match self {
            Self::Text(text) => UserInput::Text(TextUserInput { text: text.clone(), text_elements: Vec::new() }),
            Self::ImageUrl(url) => {
                UserInput::Image(ImageUserInput { url: Some(url.clone()), file_id: None, detail: None })
            }
            Self::LocalImage(p) => UserInput::LocalImage(LocalImageUserInput::new(path(p))),
            Self::Skill { name, path: p } => UserInput::Skill(SkillUserInput { name: name.clone(), path: path(p) }),
            Self::Mention { name, path: p } => {
                UserInput::Mention(MentionUserInput { name: name.clone(), path: path(p) })
            }
        }
    }
}

impl From<&str> for Input {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Input {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

/// The whole input of a turn: one or more [`Input`]s.
///
/// Converts from a string, an [`Input`], a `Vec<Input>`, an array of inputs, or a raw
/// `Vec<UserInput>` of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs(pub Vec<UserInput>);

impl Inputs {
    /// The protocol form.
    pub fn into_user_inputs(self) -> Vec<UserInput> {
        self.0
    }
}

impl From<&str> for Inputs {
    fn from(text: &str) -> Self {
        Inputs(vec![Input::from(text).to_user_input()])
    }
}

impl From<String> for Inputs {
    fn from(text: String) -> Self {
        Inputs(vec![Input::from(text).to_user_input()])
    }
}

impl From<&String> for Inputs {
    fn from(text: &String) -> Self {
        Inputs::from(text.as_str())
    }
}

impl From<Input> for Inputs {
    fn from(input: Input) -> Self {
        Inputs(vec![input.to_user_input()])
    }
}

impl From<Vec<Input>> for Inputs {
    fn from(inputs: Vec<Input>) -> Self {
        Inputs(inputs.iter().map(Input::to_user_input).collect())
    }
}

impl<const N: usize> From<[Input; N]> for Inputs {
    fn from(inputs: [Input; N]) -> Self {
        Inputs(inputs.iter().map(Input::to_user_input).collect())
    }
}

impl From<Vec<UserInput>> for Inputs {
    fn from(inputs: Vec<UserInput>) -> Self {
        Inputs(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_encode_as_the_protocol_expects() {
        let inputs = Inputs::from([
            Input::text("look"),
            Input::image_url("data:image/png;base64,AAAA"),
            Input::local_image("/tmp/cat.png"),
            Input::skill("deploy", "/skills/deploy/SKILL.md"),
            Input::mention("main.rs", "/src/main.rs"),
        ]);
        assert_eq!(
            serde_json::to_value(inputs.into_user_inputs()).unwrap(),
            json!([
                {"type": "text", "text": "look"},
                {"type": "image", "url": "data:image/png;base64,AAAA"},
                {"type": "localImage", "path": "/tmp/cat.png"},
                {"type": "skill", "name": "deploy", "path": "/skills/deploy/SKILL.md"},
                {"type": "mention", "name": "main.rs", "path": "/src/main.rs"},
            ])
        );
        assert_eq!(Inputs::from("hi"), Inputs::from(Input::text("hi")));
    }
}
