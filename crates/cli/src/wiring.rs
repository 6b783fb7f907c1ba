//! Builds the services from settings: store, keys, hashing, tokens, use cases.

use crate::config::{Role, SearchMode, Settings, Signing};
use crate::secrets;
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_auth::{Argon2Hasher, ExternalIssuers, JwtSigner, JwtValidator, Kek, KeyRing};
use bookstore_core::audit::{Audit, AuditLog};
use bookstore_core::auth::{Accounts, AuthConfig, Password, RemoteSigningKey};
use bookstore_core::health::Dependency;
use bookstore_core::ratelimit::{LocalLimiter, RateLimiter};
use bookstore_core::shared_cache::SharedBookCache;
use bookstore_core::webhook::{SecretSealer, WebhookSettings, Webhooks};
use bookstore_core::{Catalog, Inventory};
use bookstore_events::webhooks::Deliverer;
use bookstore_events::LogSignal;
use bookstore_events::{BusReadiness, EventBus, NatsBus};
use bookstore_http::cache::{BookCache, CacheLevels, RenderedBodies};
use bookstore_http::events::{EventStreams, StreamTiming};
use bookstore_http::AppState;
use bookstore_redis::{RedisBookCache, RedisLimiter};
use bookstore_search_index::{IndexReadiness, IndexService};
use bookstore_store::{Backend, ReplicaReadiness, Store};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::ExposeSecret;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How long a revocation made by another replica may take to be seen by this one.
const EPOCH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const KEK_FILE_NAME: &str = "kek";

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    open_store_with(settings.store.config()).await
}

async fn open_store_with(config: bookstore_store::StoreConfig) -> anyhow::Result<Store> {
    let store = Store::open(&config).await.context("opening the store")?;
    tracing::info!(backend = ?store.backend(), "store opened");
    if let Some(path) = store.created_file() {
        // Started from another folder, the default `./data` would otherwise silently be a
        // second store with a second admin.
        tracing::info!(path = %path.display(), "created a new store");
        eprintln!(
            "\n  Created a new store: {}\n  (To use an existing one, set BOOKSTORE_DATA_DIR or \
             DATABASE_URL.)\n",
            path.display()
        );
    }
    Ok(store)
}

/// Applies the migrations as the schema's owner (`DATABASE_MIGRATION_URL`), on a connection
/// of its own that is closed before the service connects; `false` when no migration URL is
/// configured.
pub async fn migrate_as_owner(settings: &Settings) -> anyhow::Result<bool> {
    let Some(config) = settings.store.migration_config() else {
        return Ok(false);
    };
    let store = Store::open(&config)
        .await
        .context("opening the store as its migrator (DATABASE_MIGRATION_URL)")?;
    store
        .migrate()
        .await
        .context("applying migrations as DATABASE_MIGRATION_URL")?;
    store.close().await;
    tracing::info!("migrations applied as the schema's owner (DATABASE_MIGRATION_URL)");
    Ok(true)
}

/// The schema brought up to date before the service uses it: by its owner when a migration
/// URL is configured, else by the service's own role, and only when something is missing
/// (a role with row rights alone cannot even check-create the migrations table).
async fn prepare_schema(settings: &Settings, store: &Store) -> anyhow::Result<()> {
    if migrate_as_owner(settings).await? {
        return Ok(());
    }
    if store.catalog().ready().await.is_ok() {
        return Ok(());
    }
    store.migrate().await.context("applying migrations")?;
    Ok(())
}

/// Writes a `secret_loaded` entry for each secret this process loaded: by name, source and
/// version, never by value.
pub(crate) async fn record_secrets(
    audit: &dyn AuditLog,
    settings: &Settings,
    kek_file: Option<&Path>,
) -> anyhow::Result<()> {
    for loaded in &settings.loaded.loaded {
        loaded.record(audit, false).await?;
    }
    if let Some(path) = kek_file {
        let loaded = secrets::Loaded {
            id: "kek".to_owned(),
            name: "BOOKSTORE_KEK".to_owned(),
            source: secrets::Source::DataDir(path.to_owned()),
            version: secrets::file_version(path),
        };
        loaded.log(false);
        loaded.record(audit, false).await?;
    }
    Ok(())
}

/// The configured key-encryption key, or one kept in the data directory (created on first
/// start, readable by the owner only); with the path of that file, if it is one.
pub(crate) async fn load_kek(
    settings: &Settings,
    backend: Backend,
) -> anyhow::Result<(Kek, Option<PathBuf>)> {
    if let Some(key) = settings
        .auth
        .kek
        .as_ref()
        .and_then(|kek| kek.expose_secret().strip_prefix("kms:").map(str::to_owned))
    {
        #[cfg(feature = "aws")]
        return Ok((crate::aws::kms_kek(settings, &key).await?, None));
        #[cfg(not(feature = "aws"))]
        anyhow::bail!(
            "BOOKSTORE_KEK names a KMS key ({key}), but this build has no AWS support (build \
             with --features aws)"
        );
    }
    if let Some(kek) = &settings.auth.kek {
        let kek = Kek::from_base64(kek.expose_secret()).context("BOOKSTORE_KEK")?;
        return Ok((kek, None));
    }
    let path = settings.store.data_dir.join(KEK_FILE_NAME);
    if backend == Backend::Postgres {
        tracing::warn!(
            path = %path.display(),
            "no BOOKSTORE_KEK configured: using a key file in the data directory; every replica \
             sharing this database needs the same key (set BOOKSTORE_KEK_FILE)"
        );
    }
    if path.exists() {
        warn_if_open(&path);
    } else {
        write_new_kek(&path)?;
        tracing::info!(path = %path.display(), "generated a key-encryption key");
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the key-encryption key {}", path.display()))?;
    let kek = Kek::from_base64(&text)
        .with_context(|| format!("key-encryption key {}", path.display()))?;
    Ok((kek, Some(path)))
}

/// Logs a warning when users other than the owner may read the key file.
fn warn_if_open(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = %format!("{mode:03o}"),
                    "other users can read the key-encryption key: chmod 600 it"
                );
            }
        }
    }
}

fn write_new_kek(path: &Path) -> anyhow::Result<()> {
    write_key_file(path, &Kek::generate_text()?)
}

/// Writes a key file that only its owner may read, creating its directory if need be; an
/// existing file is an error (a key is never overwritten in place).
pub(crate) fn write_key_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

pub struct Services {
    pub store: Store,
    /// The bus the relay publishes to when one is configured (NATS JetStream, or SNS with the
    /// `aws` feature); none: the in-process bus.
    pub bus: Option<Arc<dyn EventBus>>,
    pub keyring: Arc<KeyRing>,
    pub accounts: Accounts,
    pub state: AppState,
    /// Makes webhook delivery attempts: for the engine of the `subscribers` role.
    pub deliverer: Arc<Deliverer>,
    /// The event log's growth as this process knows it, which the live event streams wait on;
    /// `serve`'s pipeline feeds it.
    pub log_signal: LogSignal,
    /// The hot-read cache, when on: `serve` keeps it current from the event log.
    pub book_cache: Option<Arc<CacheLevels>>,
    /// The search read model, when `BOOKSTORE_SEARCH=index`: `serve` keeps it.
    pub search_index: Option<Arc<IndexService>>,
}

/// The services, for a server whose clients reach it at `public_url`.
pub async fn build(settings: &Settings, public_url: &str) -> anyhow::Result<Services> {
    let mut store_config = settings.store.config();
    // Several processes' caches of one database: writes hand out tokens, which keep a
    // client's reads through another process from an entry older than its write.
    store_config.consistency_tokens = settings.http.cache_mb > 0;
    let store = open_store_with(store_config).await?;
    let replicas = store.replicas();
    if !replicas.is_empty() {
        let in_rotation = replicas.iter().filter(|r| r.in_rotation).count();
        tracing::info!(
            replicas = replicas.len(),
            in_rotation,
            "reads go to read replicas when caught up"
        );
    }
    prepare_schema(settings, &store).await?;
    let users = store.users();
    let (kek, kek_file) = load_kek(settings, store.backend()).await?;
    record_secrets(&*store.audit(), settings, kek_file.as_deref()).await?;
    // Webhook secrets are sealed with the same key-encryption key as signing keys.
    let sealer: Arc<dyn SecretSealer> = Arc::new(kek.clone());
    let access_ttl = chrono::Duration::from_std(settings.auth.access_token_ttl)?;
    let issuer = settings.issuer(public_url);
    if store.backend() == Backend::Postgres
        && settings.server.public_url.is_none()
        && settings.auth.issuer.is_none()
    {
        // A shared database means replicas, and each would name its own address as the
        // issuer: behind a load balancer every replica refuses the others' tokens.
        tracing::warn!(
            issuer = %issuer,
            "neither BOOKSTORE_PUBLIC_URL nor BOOKSTORE_ISSUER is set: access tokens name this \
             server's own address as their issuer, so other replicas of this database refuse \
             them; set BOOKSTORE_PUBLIC_URL to the address clients use"
        );
    }
    let keyring = Arc::new(
        KeyRing::load_with(
            users.clone(),
            kek,
            access_ttl,
            chrono::Duration::from_std(settings.keys.key_publish_lead)?,
            remote_signing_key(settings)?,
        )
        .await
        .context("loading signing keys")?,
    );
    if let Some(remote) = keyring.remote() {
        tracing::info!(key = %remote, "access tokens are signed by the Vault transit key");
    }
    let hash_slots = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let accounts = Accounts::new(
        users.clone(),
        Arc::new(Argon2Hasher::new(hash_slots)?),
        Arc::new(JwtSigner::new(keyring.clone())),
        AuthConfig {
            issuer: issuer.clone(),
            audience: settings.auth.audience.clone(),
            access_ttl,
            session_lifetime: chrono::Duration::from_std(settings.auth.session_lifetime)?,
        },
    );
    let external = Arc::new(ExternalIssuers::new(
        settings.auth.trusted_issuers.0.clone(),
    )?);
    let verifier = Arc::new(
        JwtValidator::new(
            keyring.clone(),
            users,
            &issuer,
            &settings.auth.audience,
            EPOCH_CACHE_TTL,
        )
        .with_external(external),
    );
    let limiter = rate_limiter(settings).await?;
    #[cfg(feature = "aws")]
    let aws = match settings.aws.any() {
        true => Some(crate::aws::sdk_config().await),
        false => None,
    };
    let nats: Option<Arc<dyn EventBus>> = match nats_bus(settings).await? {
        Some(nats) => {
            tracing::info!(stream = nats.stream(), "events go to NATS JetStream");
            Some(nats)
        }
        None => None,
    };
    #[cfg(feature = "aws")]
    let nats = match (nats, crate::aws::sns_bus(settings, aws.as_ref())?) {
        (None, Some(sns)) => Some(sns),
        (nats, _) => nats,
    };
    let mut dependencies: Vec<Arc<dyn Dependency>> = Vec::new();
    if !replicas.is_empty() {
        dependencies.push(Arc::new(ReplicaReadiness(store.clone())));
    }
    if let Some(bus) = &nats {
        dependencies.push(Arc::new(BusReadiness(bus.clone())));
    }
    let webhook_config = settings.webhooks.config();
    let deliverer = Arc::new(
        Deliverer::new(store.webhooks(), sealer.clone(), webhook_config.clone())
            .context("building the webhook HTTP client")?,
    );
    let webhooks = Webhooks::new(
        store.webhooks(),
        sealer,
        deliverer.clone(),
        WebhookSettings {
            allow_private: webhook_config.allow_private,
            ..WebhookSettings::default()
        },
    );
    let log_signal = LogSignal::new(0);
    let events = Arc::new(EventStreams::new(
        store.event_log(),
        Arc::new(log_signal.clone()),
        settings.http.event_streams,
        StreamTiming::default(),
    ));
    let imports = Arc::new(bookstore_http::imports::Imports::new(
        store.imports(),
        Catalog::new(store.catalog()),
        settings.store.data_dir.join("tmp").join("imports"),
        settings.http.import_limit,
    ));
    let book_cache = book_cache(settings).await?;
    let search_index = (settings.search.search == SearchMode::Index).then(|| {
        Arc::new(IndexService::new(
            &search_index_dir(settings),
            settings.search.freshness(),
        ))
    });
    let mut catalog = Catalog::new(store.catalog());
    if let Some(index) = &search_index {
        catalog = catalog.with_search_model(index.clone());
        dependencies.push(Arc::new(IndexReadiness(index.clone())));
    }
    let state = AppState::new(bookstore_http::state::Services {
        reads: store.read_routing(),
        book_cache: book_cache.clone(),
        imports,
        catalog,
        inventory: Inventory::new(store.inventory()),
        accounts: accounts.clone(),
        webhooks,
        audit: Audit::new(store.audit()),
        verifier,
        limiter,
        public_url: public_url.to_owned(),
        dependencies,
        events,
        draining: bookstore_http::state::Draining::default(),
    });
    Ok(Services {
        store,
        bus: nats,
        keyring,
        accounts,
        state,
        deliverer,
        log_signal,
        book_cache,
        search_index,
    })
}

/// The Vault transit key that signs access tokens, when `BOOKSTORE_SIGNING` names one.
fn remote_signing_key(settings: &Settings) -> anyhow::Result<Option<Arc<dyn RemoteSigningKey>>> {
    let Signing::VaultTransit { mount, key } = &settings.keys.signing else {
        return Ok(None);
    };
    let client =
        settings.loaded.vault.clone().context(
            "BOOKSTORE_SIGNING names a Vault transit key, but no Vault client was set up",
        )?;
    Ok(Some(Arc::new(secrets::TransitKey::new(client, mount, key))))
}

/// Where the search index keeps its generations.
pub fn search_index_dir(settings: &Settings) -> PathBuf {
    settings.store.data_dir.join("search-index")
}

/// The book cache (off with `BOOKSTORE_CACHE_MB=0`): this process's, over the one every
/// replica shares in Redis when `REDIS_URL` is set.
async fn book_cache(settings: &Settings) -> anyhow::Result<Option<Arc<CacheLevels>>> {
    // Three quarters for the books, one for their rendered bodies.
    let budget = settings.http.cache_mb.saturating_mul(1024 * 1024);
    let Some(local) = BookCache::new(budget / 4 * 3) else {
        return Ok(None);
    };
    let shared: Option<Arc<dyn SharedBookCache>> = match settings.redis.settings() {
        Some(redis) => Some(Arc::new(
            RedisBookCache::connect(redis, bookstore_http::cache::TTL).await?,
        )),
        None => None,
    };
    let bodies = RenderedBodies::new(budget / 4);
    Ok(Some(Arc::new(CacheLevels::new(local, shared, bodies))))
}

/// Rate-limit counters: in Redis when configured (shared by every replica), else in memory.
async fn rate_limiter(settings: &Settings) -> anyhow::Result<Arc<dyn RateLimiter>> {
    let Some(redis) = settings.redis.settings() else {
        tracing::info!("rate-limit counters are in memory (set REDIS_URL to share them)");
        return Ok(Arc::new(LocalLimiter::default()));
    };
    let limiter = RedisLimiter::connect(redis).await?;
    Ok(Arc::new(limiter))
}

/// NATS JetStream, when configured and this process runs the relay (the only role that
/// publishes). Connects in the background: NATS being down does not delay or fail the start
/// (events wait in the outbox until it is up).
async fn nats_bus(settings: &Settings) -> anyhow::Result<Option<Arc<NatsBus>>> {
    let Some(config) = settings.nats.config() else {
        return Ok(None);
    };
    if !settings.roles.roles.has(Role::Relay) {
        return Ok(None);
    }
    Ok(Some(NatsBus::connect(config).await.context("NATS")?))
}

/// 144 random bits as text: passes the password policy, easy to copy.
pub fn random_password() -> anyhow::Result<String> {
    let mut bytes = [0u8; 18];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// On an empty store, creates the `admin` user: with the configured password, or a random
/// one printed once.
pub async fn bootstrap_admin(settings: &Settings, accounts: &Accounts) -> anyhow::Result<()> {
    let (raw, generated) = match &settings.auth.admin_password {
        Some(p) => (p.expose_secret().to_owned(), false),
        None => (random_password()?, true),
    };
    let password = Password::new(raw.clone(), &["admin"])
        .map_err(|e| anyhow::anyhow!("BOOKSTORE_ADMIN_PASSWORD {e}"))?;
    if !accounts.bootstrap_admin(password).await? {
        return Ok(());
    }
    tracing::info!(username = "admin", "created the first admin user");
    if generated {
        eprintln!(
            "\n  Created the first user: admin\n  Password (shown once): {raw}\n\n  \
             Sign in with POST /auth/login, then change it with PUT /auth/me/password\n  \
             or `bookstore user reset-password admin`.\n"
        );
    }
    Ok(())
}
