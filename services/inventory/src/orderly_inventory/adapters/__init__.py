"""The inventory's tables, one repository per aggregate, and its carrier.

Lock order, the same in every transaction so that none can deadlock another:
the order's advisory lock, then its picking row, then its reservation rows, then
stock rows in (sku, warehouse) order. A carrier's tracking update takes the order's
lock, then the parcel's shipment (or return parcel) row, then a replacement parcel's
replacement row; a BookReturnParcel takes the order's lock, then writes the return parcel's
row; a ShipReplacement takes the order's lock, then stock rows, then writes its
replacement's rows. The three jobs that claim rows before the order's lock are the
exceptions, and so only ever *try* an order's lock and never wait for one (see
``try_lock_order``): the expiry job claims reservation rows (and cancels a picking only
once it holds the order's lock); the picking job claims one picking row, and the
replacements' hand-over one replacement row, and when the order's lock is taken each lets
go at once.
Stock-takes lock their own rows before any stock row (see ``adapters.stocktakes``).
Transfers, goods receipts and return restocks lock their own row first (a
transfer, a receipt's or return's key; a return restock its return parcel's row before
that), then stock rows in the same order.
"""
