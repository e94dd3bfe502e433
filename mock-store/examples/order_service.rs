//! A small order service property-tested against the in-process mock, with
//! `eventstore_mock::strategies::{histories, appends_for}` (feature
//! `proptest`).
//!
//! The service handles commands the event-sourcing way: it reads the
//! order's stream, rebuilds the order, decides, and appends the new event
//! expecting the head it read (optimistic concurrency); on a conflict
//! (`ABORTED`) it reads again and decides again. The properties:
//!
//! - the order it rebuilds from the store is the fold of the history
//!   stored, whatever the history and its interleaving with other orders;
//! - a command obeys the business rules on any history: an item can only
//!   be added to a placed, open order; a refused command stores nothing;
//! - a conflict injected by the mock on the first append (another writer
//!   got there first) is retried, and the command still lands once.
//!
//! ```text
//! cargo run -p eventstore-mock --features proptest --example order_service
//! ```
//!
//! `cargo test` runs this file's tests (`test = true` in Cargo.toml).

use eventstore_mock::{
    Mock, MockEventStore, Respond,
    matchers::append,
    strategies::{appends_for, histories},
};
use eventstore_proto::{
    AppendRequest, EventData, EventMetadata, ReadStreamRequest,
    event_store_client::EventStoreClient,
};
use proptest::{prelude::*, test_runner::TestCaseError};
use serde::{Deserialize, Serialize};
use tonic::{Code, Status, transport::Channel};

const TENANT: &str = "shop";
const AGGREGATE_TYPE: &str = "Order";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
enum OrderEvent {
    Placed,
    ItemAdded { qty: u32 },
    Cancelled,
}

fn event_type(event: &OrderEvent) -> String {
    match event {
        OrderEvent::Placed => "com.shop.OrderPlaced".into(),
        OrderEvent::ItemAdded { .. } => "com.shop.ItemAdded".into(),
        OrderEvent::Cancelled => "com.shop.OrderCancelled".into(),
    }
}

/// An order as its events make it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Order {
    placed: bool,
    cancelled: bool,
    items: u32,
    /// Its stream's head: what the next append expects.
    version: u64,
}

impl Order {
    /// Folds one event. Histories drawn at random hold sequences the
    /// service would never write (an item before the order is placed):
    /// the fold takes them as they come, as a reader of old data must.
    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed => self.placed = true,
            OrderEvent::ItemAdded { qty } => self.items = self.items.saturating_add(*qty),
            OrderEvent::Cancelled => self.cancelled = true,
        }
        self.version += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Command {
    Place,
    AddItem { qty: u32 },
    Cancel,
}

/// Why the service refused a command.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refused {
    AlreadyPlaced,
    NotOpen,
}

/// The code under test.
struct OrderService {
    client: EventStoreClient<Channel>,
}

impl OrderService {
    /// The order rebuilt from its stream, read page by page.
    async fn load(&mut self, order_id: &str) -> Result<Order, Status> {
        let mut order = Order::default();
        let mut from = 0;
        loop {
            let page = self
                .client
                .read_stream(ReadStreamRequest {
                    tenant_id: TENANT.into(),
                    aggregate_id: order_id.into(),
                    from_aggregate_nonce: from,
                    max_count: 10,
                    forward: true,
                })
                .await?
                .into_inner();
            for stored in &page.events {
                let event: OrderEvent = serde_json::from_slice(&stored.payload)
                    .map_err(|e| Status::data_loss(format!("{order_id}: {e}")))?;
                order.apply(&event);
            }
            if page.is_end {
                return Ok(order);
            }
            from = page.next_from_aggregate_nonce;
        }
    }

    fn decide(order: &Order, command: Command) -> Result<OrderEvent, Refused> {
        match command {
            Command::Place if order.placed => Err(Refused::AlreadyPlaced),
            Command::Place => Ok(OrderEvent::Placed),
            _ if !order.placed || order.cancelled => Err(Refused::NotOpen),
            Command::AddItem { qty } => Ok(OrderEvent::ItemAdded { qty }),
            Command::Cancel => Ok(OrderEvent::Cancelled),
        }
    }

    /// Handles `command`: the order's new version, or why it was refused.
    /// A conflict is retried (a few times) on a fresh read.
    async fn handle(
        &mut self,
        order_id: &str,
        command: Command,
    ) -> Result<Result<u64, Refused>, Status> {
        let mut attempts = 0;
        loop {
            let order = self.load(order_id).await?;
            let event = match Self::decide(&order, command) {
                Ok(event) => event,
                Err(refused) => return Ok(Err(refused)),
            };
            let payload =
                serde_json::to_vec(&event).map_err(|e| Status::internal(e.to_string()))?;
            let request = AppendRequest {
                tenant_id: TENANT.into(),
                aggregate_id: order_id.into(),
                aggregate_type: AGGREGATE_TYPE.into(),
                expected_aggregate_nonce: order.version,
                idempotency_key: String::new(),
                events: vec![EventData {
                    meta: Some(EventMetadata {
                        event_id: format!("{order_id}-{}", order.version + 1),
                        aggregate_nonce: order.version + 1,
                        event_type: event_type(&event),
                        event_version: 1,
                        content_type: "application/json".into(),
                        ..EventMetadata::default()
                    }),
                    payload,
                }],
            };
            match self.client.append(request).await {
                Ok(response) => return Ok(Ok(response.into_inner().last_aggregate_nonce)),
                Err(status) if status.code() == Code::Aborted && attempts < 3 => attempts += 1,
                Err(status) => return Err(status),
            }
        }
    }
}

fn order_event() -> impl Strategy<Value = OrderEvent> {
    prop_oneof![
        Just(OrderEvent::Placed),
        (1u32..5).prop_map(|qty| OrderEvent::ItemAdded { qty }),
        Just(OrderEvent::Cancelled),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Place),
        (1u32..5).prop_map(|qty| Command::AddItem { qty }),
        Just(Command::Cancel),
    ]
}

/// Stores `history` in the (emptied) mock, and returns the service.
async fn seeded(
    mock: &MockEventStore,
    history: &[(String, OrderEvent)],
) -> Result<OrderService, TestCaseError> {
    mock.reset(); // aggregate ids repeat from case to case
    let mut client = mock.client();
    let requests = appends_for(TENANT, AGGREGATE_TYPE, event_type, history)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for request in requests {
        client
            .append(request)
            .await
            .map_err(|s| TestCaseError::fail(format!("seeding: {s:?}")))?;
    }
    Ok(OrderService { client })
}

/// The order `order_id` as `history` makes it.
fn fold(history: &[(String, OrderEvent)], order_id: &str) -> Order {
    let mut order = Order::default();
    for (_, event) in history.iter().filter(|(id, _)| id == order_id) {
        order.apply(event);
    }
    order
}

/// All three properties over `cases` cases each.
fn check(cases: u32) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mock = MockEventStore::builder()
        .start_on(rt.handle())
        .map_err(|e| e.to_string())?;
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());

    // 1. What the service rebuilds is the fold of what was stored.
    runner
        .run(&histories(order_event(), 3, 0..40), |history| {
            rt.block_on(async {
                let mut service = seeded(&mock, &history).await?;
                for order_id in ["agg-0", "agg-1", "agg-2"] {
                    let loaded = service
                        .load(order_id)
                        .await
                        .map_err(|s| TestCaseError::fail(format!("load {order_id}: {s:?}")))?;
                    prop_assert_eq!(&loaded, &fold(&history, order_id), "{}", order_id);
                }
                Ok(())
            })
        })
        .map_err(|e| format!("load: {e}"))?;

    // 2. A command on any history follows the rules; a refusal stores nothing.
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner
        .run(
            &(histories(order_event(), 2, 0..20), 0..2usize, command()),
            |(history, order, command)| {
                rt.block_on(async {
                    let order_id = format!("agg-{order}");
                    let before = fold(&history, &order_id);
                    let mut service = seeded(&mock, &history).await?;
                    let answer = service
                        .handle(&order_id, command)
                        .await
                        .map_err(|s| TestCaseError::fail(format!("{command:?}: {s:?}")))?;
                    let after = service
                        .load(&order_id)
                        .await
                        .map_err(|s| TestCaseError::fail(format!("reload: {s:?}")))?;
                    let open = before.placed && !before.cancelled;
                    match (command, answer) {
                        (Command::Place, Ok(version)) => {
                            prop_assert!(!before.placed);
                            prop_assert!(after.placed);
                            prop_assert_eq!(version, before.version + 1);
                        }
                        (Command::AddItem { qty }, Ok(version)) => {
                            prop_assert!(open, "an item added to {:?}", before);
                            prop_assert_eq!(after.items, before.items + qty);
                            prop_assert_eq!(version, before.version + 1);
                        }
                        (Command::Cancel, Ok(_)) => {
                            prop_assert!(open, "cancelled {:?}", before);
                            prop_assert!(after.cancelled);
                        }
                        (Command::Place, Err(refused)) => {
                            prop_assert_eq!(refused, Refused::AlreadyPlaced);
                            prop_assert!(before.placed);
                            prop_assert_eq!(&after, &before);
                        }
                        (_, Err(refused)) => {
                            prop_assert_eq!(refused, Refused::NotOpen);
                            prop_assert!(!open, "{:?} refused on {:?}", command, before);
                            prop_assert_eq!(&after, &before);
                        }
                    }
                    Ok(())
                })
            },
        )
        .map_err(|e| format!("commands: {e}"))?;

    // 3. Another writer first (the mock's injected conflict): retried, stored once.
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(
            &(histories(order_event(), 1, 0..10), 1u32..5),
            |(history, qty)| {
                rt.block_on(async {
                    let mut service = seeded(&mock, &history).await?;
                    mock.reset_journal(); // count the service's appends only
                    Mock::given(append())
                        .respond_with(Respond::conflict_at_head())
                        .up_to_n_times(1)
                        .expect(..) // a refused command appends nothing
                        .mount(&mock);
                    let before = fold(&history, "agg-0");
                    let answer = service
                        .handle("agg-0", Command::AddItem { qty })
                        .await
                        .map_err(|s| TestCaseError::fail(format!("add item: {s:?}")))?;
                    let after = service
                        .load("agg-0")
                        .await
                        .map_err(|s| TestCaseError::fail(format!("reload: {s:?}")))?;
                    if before.placed && !before.cancelled {
                        prop_assert_eq!(answer, Ok(before.version + 1));
                        prop_assert_eq!(after.items, before.items + qty);
                        // The conflict was answered, then the retry landed.
                        prop_assert_eq!(mock.calls_to(eventstore_mock::Rpc::Append).len(), 2);
                    } else {
                        prop_assert_eq!(answer, Err(Refused::NotOpen));
                        prop_assert_eq!(&after, &before);
                    }
                    Ok(())
                })
            },
        )
        .map_err(|e| format!("conflict: {e}"))?;
    Ok(())
}

fn main() {
    match check(64) {
        Ok(()) => println!("the order service keeps its rules (3 properties, 64 cases each)"),
        Err(failure) => {
            eprintln!("{failure}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_order_service_keeps_its_rules() {
        if let Err(failure) = super::check(32) {
            panic!("{failure}");
        }
    }
}
