//! infragraph: map running infrastructure into a live graph
