//! Test data: the real fresh-food CSV from ../shared when present, and a deterministic
//! same-shaped generator so the suite never depends on third-party data.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub const HEADER: &str = "날짜,카테고리,제품명,수량,단가,금액";
pub const REAL_TOTAL: i64 = 157_685_452;

/// The real dataset, or None (with a message saying the test is skipped) in a user's clone.
pub fn real_fresh_food() -> Option<Vec<u8>> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/Dat-fresh-food-claude.csv");
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} is absent (third-party data, only beside the project's own clone)",
                p.display()
            );
            None
        }
    }
}

pub struct Synthetic {
    pub csv: Vec<u8>,
    pub total: i64,
    pub by_category: BTreeMap<String, i64>,
    pub rows: usize,
}

/// `rows` rows of Korean fresh-food sales with the real file's header, from a fixed seed.
pub fn synthetic_fresh_food(rows: usize, seed: u64) -> Synthetic {
    let products: [(&str, &[(&str, i64)]); 5] = [
        ("과일", &[("사과", 3200), ("배", 4100), ("딸기", 8900)]),
        ("채소", &[("배추", 2900), ("양파", 1800), ("시금치", 2500)]),
        ("육류", &[("한우 등심", 32000), ("돼지 삼겹살", 15800)]),
        ("수산물", &[("고등어", 6900), ("오징어", 8200)]),
        ("유제품", &[("우유", 2600), ("치즈", 7400)]),
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut csv = format!("{HEADER}\n");
    let mut total = 0;
    let mut by_category = BTreeMap::new();
    for i in 0..rows {
        let (cat, items) = products[next(5) as usize];
        let (name, price) = items[next(items.len() as u64) as usize];
        let qty = 1 + next(20) as i64;
        let amount = qty * price;
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        csv.push_str(&format!(
            "2024-{month:02}-{day:02},{cat},{name},{qty},{price},{amount}\n"
        ));
        total += amount;
        *by_category.entry(cat.to_string()).or_insert(0) += amount;
    }
    Synthetic {
        csv: csv.into_bytes(),
        total,
        by_category,
        rows,
    }
}
