//! What the store sells. Each item's button id is derived from its name the
//! way the original reference store did it (lower case, spaces turned into
//! hyphens, everything else kept), so ids such as `the-camper's-kit` and
//! `bunum-wo-aa,-papua-new-guinea` reach the dashboard and the stats exactly
//! as in the reference.

/// Which drawing the store shows for an item. Each kind is an inline SVG in
/// the page template, coloured by the item's [`Picture`] colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureKind {
    /// A bag of beans with a label.
    CoffeeBag,
    /// A plunger-style coffee maker.
    Brewer,
    /// A camping stove with a pot.
    Stove,
    /// A hand grinder.
    Grinder,
    /// An enamel mug.
    Mug,
    /// A gift box.
    Kit,
}

/// An item's drawing: its kind and the two colours it is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    /// Which drawing.
    pub kind: PictureKind,
    /// Main colour (CSS colour), e.g. the bag.
    pub primary: &'static str,
    /// Second colour, e.g. the label.
    pub accent: &'static str,
}

/// One thing for sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// Display name; the button id is derived from it.
    pub name: &'static str,
    /// Price in US cents (no floating point for money).
    pub price_cents: u32,
    /// One or two sentences for the card.
    pub description: &'static str,
    /// Shown above the name, e.g. the roast or "Gear".
    pub tag: &'static str,
    /// How the item is drawn.
    pub picture: Picture,
}

impl Product {
    /// The id of the item's "Add to cart" button, which is also the
    /// `button_id` of its click events.
    pub fn button_id(&self) -> String {
        self.name.to_lowercase().replace(' ', "-")
    }

    /// The price as shown, e.g. `$18.50`.
    pub fn price(&self) -> String {
        format!("${}.{:02}", self.price_cents / 100, self.price_cents % 100)
    }
}

const fn picture(kind: PictureKind, primary: &'static str, accent: &'static str) -> Picture {
    Picture {
        kind,
        primary,
        accent,
    }
}

/// Coffees and gear, in the order the store shows them.
pub const PRODUCTS: [Product; 8] = [
    Product {
        name: "Bunum Wo AA, Papua New Guinea",
        price_cents: 1850,
        description: "Washed and sun-dried in the Western Highlands: blackcurrant, brown sugar and a clean cocoa finish.",
        tag: "Medium roast · 340 g",
        picture: picture(PictureKind::CoffeeBag, "#2f5d50", "#f2c14e"),
    },
    Product {
        name: "Kayon Mountain, Ethiopia",
        price_cents: 1900,
        description: "A natural-process Guji with blueberry, jasmine and a syrupy body.",
        tag: "Light roast · 340 g",
        picture: picture(PictureKind::CoffeeBag, "#5b3a6e", "#f4a7b9"),
    },
    Product {
        name: "La Cumbre, Colombia",
        price_cents: 1700,
        description: "Caramel, red apple and milk chocolate from a family farm in Huila.",
        tag: "Medium roast · 340 g",
        picture: picture(PictureKind::CoffeeBag, "#b5462f", "#f6e3c5"),
    },
    Product {
        name: "Night Owl Espresso Blend",
        price_cents: 1600,
        description: "Dark and sweet, with molasses and toasted hazelnut. Made for milk drinks.",
        tag: "Dark roast · 340 g",
        picture: picture(PictureKind::CoffeeBag, "#2b2b33", "#d9a441"),
    },
    Product {
        name: "Areopress Coffee Maker",
        price_cents: 3495,
        description: "Immersion and pressure in one tube: a clean cup in two minutes, anywhere.",
        tag: "Brewing",
        picture: picture(PictureKind::Brewer, "#3d6e8c", "#c7dbe6"),
    },
    Product {
        name: "MSR Reactor 2.5L Stove System",
        price_cents: 23995,
        description: "A windproof radiant burner and a 2.5 litre pot that boils water in minutes at altitude.",
        tag: "Camp stove",
        picture: picture(PictureKind::Stove, "#c0392b", "#8e9aa3"),
    },
    Product {
        name: "Ridgeline Hand Grinder",
        price_cents: 6400,
        description: "Conical steel burrs, 40 grind settings and a crank that folds away.",
        tag: "Grinding",
        picture: picture(PictureKind::Grinder, "#6b4f3a", "#b8c2c8"),
    },
    Product {
        name: "Enamel Camp Mug",
        price_cents: 1400,
        description: "Steel with a speckled enamel coat. Holds 350 ml and survives being dropped on rocks.",
        tag: "Drinkware",
        picture: picture(PictureKind::Mug, "#1f6f78", "#f7f3ea"),
    },
];

/// Bundles, shown in their own section.
pub const KITS: [Product; 3] = [
    Product {
        name: "The Camper's Kit",
        price_cents: 28900,
        description: "The stove, the Areopress, a hand grinder and two bags of beans: proper coffee at the trailhead.",
        tag: "Save $55",
        picture: picture(PictureKind::Kit, "#2f5d50", "#f2c14e"),
    },
    Product {
        name: "The Commuter's Kit",
        price_cents: 5900,
        description: "An Areopress, a camp mug and a bag of La Cumbre for the office drawer.",
        tag: "Save $7",
        picture: picture(PictureKind::Kit, "#3d6e8c", "#f6e3c5"),
    },
    Product {
        name: "The Tasting Flight",
        price_cents: 4900,
        description: "Three single origins side by side, with tasting cards to compare them.",
        tag: "Gift favourite",
        picture: picture(PictureKind::Kit, "#b5462f", "#f4a7b9"),
    },
];

/// Every item on sale: products, then kits.
pub fn all_items() -> impl Iterator<Item = &'static Product> {
    PRODUCTS.iter().chain(KITS.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_ids_match_the_reference_store() {
        let ids: Vec<String> = all_items().map(Product::button_id).collect();
        for expected in [
            "areopress-coffee-maker",
            "the-camper's-kit",
            "bunum-wo-aa,-papua-new-guinea",
            "msr-reactor-2.5l-stove-system",
        ] {
            assert!(ids.iter().any(|id| id == expected), "missing {expected}");
        }
    }

    #[test]
    fn button_ids_are_unique() {
        let mut ids: Vec<String> = all_items().map(Product::button_id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn prices_are_shown_with_cents() {
        assert_eq!(PRODUCTS[0].price(), "$18.50");
        assert_eq!(PRODUCTS[5].price(), "$239.95");
        assert_eq!(KITS[0].price(), "$289.00");
    }
}
