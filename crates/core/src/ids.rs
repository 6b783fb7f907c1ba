//! Typed identifiers, so that an author id can never be passed where a book id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// Identifies a book.
    BookId
);
id_type!(
    /// Identifies an author (or any other contributor: editor, translator, illustrator).
    AuthorId
);
id_type!(
    /// Identifies a genre.
    GenreId
);
id_type!(
    /// Identifies a user (staff account).
    UserId
);
id_type!(
    /// Identifies a webhook subscription.
    WebhookId
);
id_type!(
    /// Identifies one delivery of one event to one webhook (with all its attempts).
    DeliveryId
);
id_type!(
    /// Identifies a stock location (a store, a warehouse, a shelf).
    LocationId
);
id_type!(
    /// Identifies a stocktake (a count of one location).
    StocktakeId
);
id_type!(
    /// Identifies an import of a catalog file.
    ImportId
);
