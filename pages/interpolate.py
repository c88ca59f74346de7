import streamlit as st

st.title("interpolate")
st.info("This page is being built.")
