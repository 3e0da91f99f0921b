//! Rebuilds the skill when a migration is added or changed: `sqlx::migrate!` embeds the folders at
//! compile time, and cargo does not look into them by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
