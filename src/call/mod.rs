pub mod link;
pub mod local;
pub mod mesh;
pub mod receive;
pub mod rtcp;
