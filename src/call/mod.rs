pub mod link;
pub mod receive;
