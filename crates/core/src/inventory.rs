//! The inventory use cases: locations, stock per location and transfers. Each checks the
//! policy, then asks the store ([`InventoryStore`]).

use crate::book::Book;
use crate::error::{CatalogError, StoreError};
use crate::idempotency::{create_once, Created};
use crate::ids::{BookId, LocationId, StocktakeId};
use crate::location::{Location, LocationDraft, LocationRef, StockLevel};
use crate::paging::{Page, PageRequest};
use crate::policy::{Action, Principal};
use crate::ports::{IdempotencyRequest, IdempotencyStore, Precondition, WriteContext};
use crate::stock::{StockMovement, TransferDraft};
use crate::stocktake::{CountDraft, Stocktake, StocktakeDraft, StocktakeLine};
use crate::validation::ValidationErrors;
use async_trait::async_trait;
use std::sync::Arc;

/// What the inventory needs from a store, beside the catalog's stock movements.
#[async_trait]
pub trait InventoryStore: IdempotencyStore {
    /// By code.
    async fn list_locations(&self, page: &PageRequest) -> Result<Page<Location>, StoreError>;
    async fn get_location(&self, id: LocationId) -> Result<Option<Location>, StoreError>;
    /// By id, or by code (any case).
    async fn find_location(&self, location: &LocationRef) -> Result<Option<Location>, StoreError>;
    /// `DuplicateName` for a code in use; an unknown parent is an `UnknownReference`.
    async fn create_location(
        &self,
        draft: &LocationDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Location, StoreError>;
    /// As [`InventoryStore::create_location`]; a parent that is the location or inside it is
    /// a `LocationCycle`.
    async fn update_location(
        &self,
        id: LocationId,
        draft: &LocationDraft,
    ) -> Result<Location, StoreError>;
    /// Refused (`LocationInUse`) for the default location, one that holds stock, and one
    /// with locations inside it.
    async fn delete_location(&self, id: LocationId) -> Result<(), StoreError>;

    /// The book's stock per location, by code (locations where it has never been, left out);
    /// `None` for no such book.
    async fn book_stock(&self, id: BookId) -> Result<Option<Vec<StockLevel>>, StoreError>;

    /// Moves stock between two locations of the book: two movements (out, then in), each with
    /// its history row and `stock_adjusted` event, in one transaction (with the idempotency
    /// record, if given). `InsufficientStock` when the source has too little.
    async fn transfer_stock(
        &self,
        id: BookId,
        expected: &Precondition,
        draft: &TransferDraft,
        ctx: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<(Book, [StockMovement; 2]), StoreError>;

    /// Opens a stocktake of the draft's location (the default one if none).
    async fn open_stocktake(
        &self,
        draft: &StocktakeDraft,
        ctx: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Stocktake, StoreError>;
    /// Newest first, without their lines.
    async fn list_stocktakes(&self, page: &PageRequest) -> Result<Page<Stocktake>, StoreError>;
    /// With a page of its lines, by ISBN (the lines of deleted books last).
    async fn get_stocktake(
        &self,
        id: StocktakeId,
        lines: &PageRequest,
    ) -> Result<Option<Stocktake>, StoreError>;
    /// Sets or adds to the count of a book at the stocktake's location (or a location inside
    /// it), remembering the stock there now; a new version of the stocktake.
    /// `Conflict` unless the stocktake is open.
    async fn record_count(
        &self,
        id: StocktakeId,
        draft: &CountDraft,
    ) -> Result<(Stocktake, StocktakeLine), StoreError>;
    /// Applies every line as a `count` movement (with its history row and event) in one
    /// transaction, if the precondition holds; `Conflict` unless the stocktake is open.
    async fn commit_stocktake(
        &self,
        id: StocktakeId,
        expected: &Precondition,
        ctx: &WriteContext,
    ) -> Result<Stocktake, StoreError>;
    /// Cancels an open stocktake; `Conflict` unless it is open.
    async fn cancel_stocktake(&self, id: StocktakeId) -> Result<Stocktake, StoreError>;
}

#[derive(Clone)]
pub struct Inventory {
    store: Arc<dyn InventoryStore>,
}

fn authorize(who: &Principal, action: Action) -> Result<(), CatalogError> {
    if who.may(action) {
        Ok(())
    } else {
        Err(CatalogError::Forbidden(action))
    }
}

impl Inventory {
    pub fn new(store: Arc<dyn InventoryStore>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn InventoryStore> {
        &self.store
    }

    fn keys(&self) -> &dyn IdempotencyStore {
        &*self.store
    }

    #[tracing::instrument(name = "inventory.list_locations", skip_all)]
    pub async fn list_locations(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Location>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_locations(page).await?)
    }

    #[tracing::instrument(name = "inventory.get_location", skip_all)]
    pub async fn get_location(
        &self,
        who: &Principal,
        id: LocationId,
    ) -> Result<Location, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        self.store
            .get_location(id)
            .await?
            .ok_or(CatalogError::Store(StoreError::NotFound {
                entity: "location",
            }))
    }

    /// The location a request names in `field`; a field error there when there is none, as
    /// for a stock movement's location.
    #[tracing::instrument(name = "inventory.resolve_location", skip_all)]
    pub async fn resolve_location(
        &self,
        who: &Principal,
        field: &str,
        location: &LocationRef,
    ) -> Result<Location, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        self.store.find_location(location).await?.ok_or_else(|| {
            StoreError::Invalid(ValidationErrors::single(
                field,
                format!("no location '{location}' (give a location's code or id)"),
            ))
            .into()
        })
    }

    #[tracing::instrument(name = "inventory.create_location", skip_all)]
    pub async fn create_location(
        &self,
        ctx: &WriteContext,
        draft: &LocationDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Location>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store.create_location(draft, idempotency)
        })
        .await
    }

    #[tracing::instrument(name = "inventory.update_location", skip_all)]
    pub async fn update_location(
        &self,
        ctx: &WriteContext,
        id: LocationId,
        draft: &LocationDraft,
    ) -> Result<Location, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.update_location(id, draft).await?)
    }

    #[tracing::instrument(name = "inventory.delete_location", skip_all)]
    pub async fn delete_location(
        &self,
        ctx: &WriteContext,
        id: LocationId,
    ) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_location(id).await?)
    }

    #[tracing::instrument(name = "inventory.book_stock", skip_all)]
    pub async fn book_stock(
        &self,
        who: &Principal,
        id: BookId,
    ) -> Result<Vec<StockLevel>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        self.store
            .book_stock(id)
            .await?
            .ok_or(CatalogError::Store(StoreError::NotFound { entity: "book" }))
    }

    #[tracing::instrument(name = "inventory.open_stocktake", skip_all)]
    pub async fn open_stocktake(
        &self,
        ctx: &WriteContext,
        draft: &StocktakeDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Stocktake>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store.open_stocktake(draft, ctx, idempotency)
        })
        .await
    }

    #[tracing::instrument(name = "inventory.list_stocktakes", skip_all)]
    pub async fn list_stocktakes(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Stocktake>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_stocktakes(page).await?)
    }

    /// The stocktake with a page of its lines.
    #[tracing::instrument(name = "inventory.get_stocktake", skip_all)]
    pub async fn get_stocktake(
        &self,
        who: &Principal,
        id: StocktakeId,
        lines: &PageRequest,
    ) -> Result<Stocktake, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        self.store
            .get_stocktake(id, lines)
            .await?
            .ok_or(CatalogError::Store(StoreError::NotFound {
                entity: "stocktake",
            }))
    }

    #[tracing::instrument(name = "inventory.record_count", skip_all)]
    pub async fn record_count(
        &self,
        ctx: &WriteContext,
        id: StocktakeId,
        draft: &CountDraft,
    ) -> Result<(Stocktake, StocktakeLine), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.record_count(id, draft).await?)
    }

    #[tracing::instrument(name = "inventory.commit_stocktake", skip_all)]
    pub async fn commit_stocktake(
        &self,
        ctx: &WriteContext,
        id: StocktakeId,
        expected: &Precondition,
    ) -> Result<Stocktake, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.commit_stocktake(id, expected, ctx).await?)
    }

    #[tracing::instrument(name = "inventory.cancel_stocktake", skip_all)]
    pub async fn cancel_stocktake(
        &self,
        ctx: &WriteContext,
        id: StocktakeId,
    ) -> Result<Stocktake, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.cancel_stocktake(id).await?)
    }

    #[tracing::instrument(name = "inventory.transfer_stock", skip_all)]
    pub async fn transfer_stock(
        &self,
        ctx: &WriteContext,
        id: BookId,
        expected: &Precondition,
        draft: &TransferDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<(Book, [StockMovement; 2])>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store
                .transfer_stock(id, expected, draft, ctx, idempotency)
        })
        .await
    }
}
